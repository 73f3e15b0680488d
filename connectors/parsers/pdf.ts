import { fileURLToPath } from 'node:url';
import type * as PdfJsModule from 'pdfjs-dist/legacy/build/pdf.mjs';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { type ByteSource, errorMessage, pieces, tooLarge } from './bytes.ts';
import type { ParseLimits } from './parser.ts';

// The legacy build is the one that runs on Node without browser globals. Loaded on first use: it is several MB of
// JavaScript that a worker parsing only text files never needs.
type PdfJs = typeof PdfJsModule;
let pdfjs: Promise<PdfJs> | undefined;
const PDFJS_MODULE = 'pdfjs-dist/legacy/build/pdf.mjs';

// Standard fonts and CMaps ship inside the package; pdf.js reads them from disk in Node, never over the network.
const assetDir = (name: string): string => fileURLToPath(new URL(`../../${name}/`, import.meta.resolve(PDFJS_MODULE)));

/**
 * Extracts a PDF's text page by page. The file is buffered (the format needs random access: the cross-reference
 * table sits at the end), bounded by maxBytes; pages are extracted one at a time and released after use, so the
 * text of the whole document is never held at once.
 */
export async function* parsePdf(
  source: ByteSource,
  limits: ParseLimits,
): AsyncGenerator<string, { title?: string; pages: number }, undefined> {
  const { filename } = source;
  let data = await source.readAll();
  // pdf.js wants a plain Uint8Array and takes ownership of its memory; a Buffer may share a pooled ArrayBuffer.
  if (Buffer.isBuffer(data) || data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = new Uint8Array(data);
  pdfjs ??= import(PDFJS_MODULE);
  const { getDocument, VerbosityLevel } = await pdfjs;
  const task = getDocument({
    data,
    // In Node pdf.js runs its "fake worker" on this thread; no fetching, no font loading into a (missing) DOM.
    useWorkerFetch: false,
    disableFontFace: true,
    useSystemFonts: false,
    standardFontDataUrl: assetDir('standard_fonts'),
    cMapUrl: assetDir('cmaps'),
    cMapPacked: true,
    verbosity: VerbosityLevel.ERRORS,
  });
  try {
    let doc: Awaited<typeof task.promise>;
    try {
      doc = await task.promise;
    } catch (err) {
      throw openError(filename, err);
    }
    if (doc.numPages > limits.maxPages) {
      throw tooLarge(filename, 'maxPages', limits.maxPages, `it has ${doc.numPages} pages`);
    }
    const title = await metadataTitle(doc);

    let wroteText = false;
    for (let n = 1; n <= doc.numPages; n++) {
      let text = '';
      try {
        const page = await doc.getPage(n);
        try {
          const content = await page.getTextContent();
          for (const item of content.items) {
            if (!('str' in item)) continue; // marked-content boundaries carry no text
            text += item.str;
            if (item.hasEOL) text += '\n';
          }
        } finally {
          page.cleanup();
        }
      } catch (err) {
        throw new ConnectorError(FailureType.CorruptDocument, `${filename} page ${n} could not be read (${errorMessage(err)})`, {
          cause: err,
        });
      }
      text = text.replace(/\s+$/, '');
      if (text.length === 0) continue; // a blank or image-only page: no separator for nothing
      if (wroteText) yield '\n\n';
      wroteText = true;
      yield* pieces(text);
    }
    return title ? { title, pages: doc.numPages } : { pages: doc.numPages };
  } finally {
    await task.destroy();
  }
}

function openError(filename: string, err: unknown): ConnectorError {
  const name = (err as { name?: string } | undefined)?.name;
  if (name === 'PasswordException') {
    return new ConnectorError(FailureType.UnsupportedFormat, `${filename} is a password-protected PDF`, { cause: err });
  }
  return new ConnectorError(FailureType.CorruptDocument, `${filename} is not a valid PDF (${errorMessage(err)})`, { cause: err });
}

async function metadataTitle(doc: { getMetadata(): Promise<{ info: object; metadata: { get(name: string): unknown } | null }> }) {
  try {
    const { info, metadata } = await doc.getMetadata();
    const candidates = [metadata?.get('dc:title'), (info as { Title?: unknown }).Title];
    for (const c of candidates) if (typeof c === 'string' && c.trim()) return c.trim();
  } catch {
    // Damaged metadata costs the title, not the document.
  }
  return undefined;
}
