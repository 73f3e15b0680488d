// The PDF extractor's thread (see pdf.ts): pdf.js runs here, on a heap of its own with a fixed size, so a large PDF's
// parsed objects and garbage never grow the worker's main heap. It parses one document at a time, as asked.
import { parentPort } from 'node:worker_threads';
import type * as PdfJsModule from 'pdfjs-dist/legacy/build/pdf.mjs';
import { PDFJS_MODULE, type PdfThreadInput, type PdfThreadMessage, type PdfThreadRequest } from './pdf-protocol.ts';

const port = parentPort!;
const post = (m: PdfThreadMessage): void => port.postMessage(m);
const pdfjs = import(PDFJS_MODULE) as Promise<typeof PdfJsModule>;

// Pages are sent only while the reader has granted credit, so a slow consumer holds a few pages, not the document.
let credit = 0;
let wake: (() => void) | undefined;
let parsing = Promise.resolve();
port.on('message', (m: PdfThreadRequest) => {
  if (m.type === 'credit') {
    credit += m.pages;
    wake?.();
    return;
  }
  credit = 0;
  parsing = parsing.then(() =>
    run(m.input).catch((err: unknown) => post({ type: 'error', stage: 'internal', ...describe(err) })),
  );
});
async function takeCredit(): Promise<void> {
  while (credit === 0) await new Promise<void>((r) => (wake = r));
  wake = undefined;
  credit--;
}

const describe = (err: unknown) => ({
  name: (err as { name?: unknown } | undefined)?.name === undefined ? undefined : String((err as { name: unknown }).name),
  message: err instanceof Error ? err.message : String(err),
});

async function run(input: PdfThreadInput): Promise<void> {
  const { getDocument, VerbosityLevel } = await pdfjs;
  const task = getDocument({
    data: input.data,
    // In Node pdf.js runs its "fake worker" on this thread; no fetching, no font loading into a (missing) DOM.
    useWorkerFetch: false,
    disableFontFace: true,
    useSystemFonts: false,
    standardFontDataUrl: input.standardFontDataUrl,
    cMapUrl: input.cMapUrl,
    cMapPacked: true,
    verbosity: VerbosityLevel.ERRORS,
  });
  try {
    let doc: Awaited<typeof task.promise>;
    try {
      doc = await task.promise;
    } catch (err) {
      return post({ type: 'error', stage: 'open', ...describe(err) });
    }
    if (doc.numPages > input.maxPages) return post({ type: 'open', pages: doc.numPages });
    post({ type: 'open', pages: doc.numPages, title: await metadataTitle(doc) });
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
        return post({ type: 'error', stage: 'page', page: n, ...describe(err) });
      }
      await takeCredit();
      post({ type: 'page', text: text.replace(/\s+$/, '') });
    }
    post({ type: 'done' });
  } finally {
    await task.destroy();
  }
}

async function metadataTitle(doc: {
  getMetadata(): Promise<{ info: object; metadata: { get(name: string): unknown } | null }>;
}): Promise<string | undefined> {
  try {
    const { info, metadata } = await doc.getMetadata();
    const candidates = [metadata?.get('dc:title'), (info as { Title?: unknown }).Title];
    for (const c of candidates) if (typeof c === 'string' && c.trim()) return c.trim();
  } catch {
    // Damaged metadata costs the title, not the document.
  }
  return undefined;
}
