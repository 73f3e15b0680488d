// Messages between the DOCX extractor (docx.ts) and its thread (docx-thread.ts).
import type { ZipEntry } from './zip.ts';

/**
 * Largest XML part mammoth is given, inflated. Measured: mammoth needs about 1 KB of heap per element, so the
 * element cap below binds long before this for markup; this bounds a part of few, huge elements (one long text run).
 */
export const MAX_DOCX_XML_BYTES = 32 * 1024 * 1024;
/**
 * Most XML elements, over every part mammoth reads (the document, styles, numbering, notes, comments). Measured:
 * 360,000 elements (90,000 paragraphs) need 256 to 384 MB of mammoth's heap; this keeps to DOCX_THREAD_HEAP with
 * room to spare (120,000 elements is a document of some 30,000 paragraphs, several hundred pages).
 */
export const MAX_DOCX_XML_ELEMENTS = 120_000;

export interface DocxThreadInput {
  /** The whole package; transferred, not copied. */
  data: Uint8Array;
  /** Its central directory, as the caller read and checked it. */
  entries: ZipEntry[];
}

export type DocxThreadRequest = { type: 'parse'; input: DocxThreadInput };

export type DocxThreadMessage =
  | { type: 'done'; text: string; title?: string }
  /** `corrupt`: the package is damaged or lies about itself; `too-large`: over `limit` (named) = `value`. */
  | { type: 'error'; kind: 'corrupt'; message: string }
  | { type: 'error'; kind: 'too-large'; limit: string; value: number; message: string };
