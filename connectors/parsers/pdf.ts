import { fileURLToPath } from 'node:url';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { acquireThread, releaseThread, type ThreadKind } from './bounded-threads.ts';
import { type ByteSource, errorMessage, pieces, tooLarge } from './bytes.ts';
import type { ParseLimits } from './parser.ts';
import { PDFJS_MODULE, type PdfThreadInput, type PdfThreadMessage, type PdfThreadRequest } from './pdf-protocol.ts';

/**
 * The heap of the thread that runs pdf.js. pdf.js keeps what it has parsed of a document (pages, fonts, the cross
 * reference table) for the document's lifetime; a fixed old space makes it collect garbage early instead of letting
 * the heap grow with the page count, and a PDF that needs more than this fails as DocumentTooLarge instead of
 * growing the worker until the machine runs out. Measured: the bench's 55 MB, 12,000-page PDF
 * parses within 64 MB; the young generation is kept small too, as its garbage is resident whatever the old space holds.
 */
export const PDF_THREAD_HEAP = { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 8 } as const;

/**
 * Decoded stream bytes a PDF thread may hold at once (beyond the file itself), when maxDecompressedBytes is larger.
 * Text extraction decodes content streams and fonts, rarely more than a few MB each.
 */
export const PDF_THREAD_BUFFERS = 64 * 1024 * 1024;

/** Pages the thread may extract ahead of the reader. */
const PAGES_AHEAD = 8;
/**
 * A thread that parsed a file this large ends at once instead of idling: its heap is full of that document's garbage,
 * and the steps after the parse (embedding on the same host) should not find it still resident. Measured on the
 * memory run with the local model in the same worker (55 MB PDF): peak 621 MB with the idle wait, 553 MB without;
 * the ~150 ms start of the next thread is nothing next to parsing a file this size.
 */
const REUSE_BELOW_BYTES = 8 * 1024 * 1024;

// Standard fonts and CMaps ship inside the package; pdf.js reads them from disk in Node, never over the network.
const assetDir = (name: string): string => fileURLToPath(new URL(`../../${name}/`, import.meta.resolve(PDFJS_MODULE)));
const PDF_THREAD: ThreadKind = { name: 'PDF', url: new URL('./pdf-thread.ts', import.meta.url), heap: PDF_THREAD_HEAP };

/**
 * Extracts a PDF's text page by page. The file is buffered (the format needs random access: the cross-reference
 * table sits at the end), bounded by maxBytes, and handed over (not copied) to a thread that runs pdf.js on a heap
 * of fixed size. Pages come back one at a time, a few ahead of the reader, so the text of the whole document is never
 * held at once. The worker's own heap never sees pdf.js's objects or garbage, the thread's buffers are capped at the
 * file's size plus maxDecompressedBytes, at most MAX_PARSE_THREADS files are in memory at once, and pdf.js's CPU
 * work stays off the worker's event loop (heartbeats keep flowing).
 */
export async function* parsePdf(
  source: ByteSource,
  limits: ParseLimits,
): AsyncGenerator<string, { title?: string; pages: number }, undefined> {
  const { filename } = source;
  const slot = await acquireThread<PdfThreadRequest, PdfThreadMessage>(PDF_THREAD);
  let reusable = false;
  let large = false;
  try {
    const data = await source.readAll();
    large = data.byteLength >= REUSE_BELOW_BYTES;
    const { inbox, send } = slot;
    // pdf.js inflates each stream whole into an ArrayBuffer, outside the heap PDF_THREAD_HEAP bounds: without this a
    // flate bomb (a small stream of zeros inflating to gigabytes) grows the process without limit. Text extraction
    // decodes content streams and fonts, not images; the file itself is a buffer of the thread's too.
    // The budget is for buffers alive at once, so it is also capped by PDF_THREAD_BUFFERS whatever maxDecompressedBytes
    // says: the default 256 MiB let one bomb add over 300 MB to the worker's resident memory before the thread ended.
    const { maxDecompressedBytes } = limits;
    const [name, budget] =
      maxDecompressedBytes <= PDF_THREAD_BUFFERS
        ? ['maxDecompressedBytes', maxDecompressedBytes]
        : ["the PDF thread's decoded buffers", PDF_THREAD_BUFFERS];
    slot.limitExternalMemory(data.byteLength + budget, () =>
      tooLarge(filename, name, budget, `its streams decode to more than ${budget} bytes`),
    );
    const input: PdfThreadInput = {
      data,
      maxPages: limits.maxPages,
      standardFontDataUrl: assetDir('standard_fonts'),
      cMapUrl: assetDir('cmaps'),
    };
    send({ type: 'parse', input }, [data.buffer as ArrayBuffer]);
    const open = await inbox.next(filename);
    if (open.type === 'error') {
      reusable = true;
      throw openError(filename, asError(open));
    }
    if (open.type !== 'open') throw new Error(`the PDF thread sent ${open.type} before open`);
    if (open.pages > limits.maxPages) {
      reusable = true;
      throw tooLarge(filename, 'maxPages', limits.maxPages, `it has ${open.pages} pages`);
    }
    send({ type: 'credit', pages: PAGES_AHEAD });

    let wroteText = false;
    for (let n = 1; ; n++) {
      const m = await inbox.next(filename);
      if (m.type === 'done') break;
      if (m.type === 'error') {
        reusable = true;
        const cause = asError(m);
        throw new ConnectorError(
          FailureType.CorruptDocument,
          `${filename} page ${m.page ?? n} could not be read (${errorMessage(cause)})`,
          { cause },
        );
      }
      if (m.type !== 'page') throw new Error(`the PDF thread sent ${m.type} after open`);
      send({ type: 'credit', pages: 1 });
      if (m.text.length === 0) continue; // a blank or image-only page: no separator for nothing
      if (wroteText) yield '\n\n';
      wroteText = true;
      yield* pieces(m.text);
    }
    reusable = true;
    return open.title ? { title: open.title, pages: open.pages } : { pages: open.pages };
  } finally {
    // A reader that stopped early leaves the thread mid-document: it is ended, not reused; so is one a large file filled.
    await releaseThread(slot, reusable && !large);
  }
}

function asError(m: { name?: string; message: string }): Error {
  const err = new Error(m.message);
  if (m.name) err.name = m.name;
  return err;
}

function openError(filename: string, err: Error): ConnectorError {
  if (err.name === 'PasswordException') {
    return new ConnectorError(FailureType.UnsupportedFormat, `${filename} is a password-protected PDF`, { cause: err });
  }
  return new ConnectorError(FailureType.CorruptDocument, `${filename} is not a valid PDF (${errorMessage(err)})`, { cause: err });
}
