// Messages between the DOCX extractor (docx.ts) and its thread (docx-thread.ts).
import type { ZipEntry } from './zip.ts';

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
