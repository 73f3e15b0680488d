import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConnectorError, FailureType } from '../shared/errors.ts';
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

/** Pages the thread may extract ahead of the reader. */
const PAGES_AHEAD = 8;
/**
 * PDFs parsed at once in one process. Each holds its whole file and a thread heap, so more concurrent PDF activities
 * would multiply the peak; the rest wait here before reading their bytes. Text formats stream and are not limited.
 */
export const MAX_PDF_THREADS = 2;
/** A thread left idle this long ends, returning its heap; until then the next PDF skips starting one (~150 ms). */
const IDLE_THREAD_MS = 5_000;
/**
 * A thread that parsed a file this large ends at once instead of idling: its heap is full of that document's garbage,
 * and the steps after the parse (embedding on the same host) should not find it still resident. Measured on the
 * memory run with the local model in the same worker (55 MB PDF): peak 621 MB with the idle wait, 553 MB without;
 * the ~150 ms start of the next thread is nothing next to parsing a file this size.
 */
const REUSE_BELOW_BYTES = 8 * 1024 * 1024;

// Standard fonts and CMaps ship inside the package; pdf.js reads them from disk in Node, never over the network.
const assetDir = (name: string): string => fileURLToPath(new URL(`../../${name}/`, import.meta.resolve(PDFJS_MODULE)));
const THREAD_URL = new URL('./pdf-thread.ts', import.meta.url);

/**
 * Extracts a PDF's text page by page. The file is buffered (the format needs random access: the cross-reference
 * table sits at the end), bounded by maxBytes, and handed over (not copied) to a thread that runs pdf.js on a heap
 * of fixed size. Pages come back one at a time, a few ahead of the reader, so the text of the whole document is never
 * held at once. The worker's own heap never sees pdf.js's objects or garbage, at most MAX_PDF_THREADS files are in
 * memory at once, and pdf.js's CPU work stays off the worker's event loop (heartbeats keep flowing).
 */
export async function* parsePdf(
  source: ByteSource,
  limits: ParseLimits,
): AsyncGenerator<string, { title?: string; pages: number }, undefined> {
  const { filename } = source;
  const slot = await threads.acquire();
  let reusable = false;
  let large = false;
  try {
    const data = await source.readAll();
    large = data.byteLength >= REUSE_BELOW_BYTES;
    const { thread, inbox } = slot;
    const input: PdfThreadInput = {
      data,
      maxPages: limits.maxPages,
      standardFontDataUrl: assetDir('standard_fonts'),
      cMapUrl: assetDir('cmaps'),
    };
    const send = (m: PdfThreadRequest, transfer: ArrayBuffer[] = []): void => thread.postMessage(m, transfer);
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
    await threads.release(slot, reusable && !large);
  }
}

interface Slot {
  thread: Worker;
  inbox: Inbox;
  idleTimer?: NodeJS.Timeout;
}

/** Up to MAX_PDF_THREADS threads; callers beyond that wait. Idle threads are reused, then ended after a while. */
class ThreadPool {
  #idle: Slot[] = [];
  #busy = 0;
  #waiting: (() => void)[] = [];

  async acquire(): Promise<Slot> {
    while (this.#busy >= MAX_PDF_THREADS) await new Promise<void>((r) => this.#waiting.push(r));
    this.#busy++;
    const slot = this.#idle.pop();
    if (slot) {
      clearTimeout(slot.idleTimer);
      slot.thread.ref();
      return slot;
    }
    const thread = new Worker(THREAD_URL, { resourceLimits: PDF_THREAD_HEAP });
    return { thread, inbox: new Inbox(thread) };
  }

  async release(slot: Slot, reusable: boolean): Promise<void> {
    try {
      if (reusable && !slot.inbox.failed) {
        // Idle threads never keep a process alive, and end on their own.
        slot.thread.unref();
        slot.idleTimer = setTimeout(() => {
          this.#idle = this.#idle.filter((s) => s !== slot);
          void slot.thread.terminate();
        }, IDLE_THREAD_MS).unref();
        this.#idle.push(slot);
      } else {
        await slot.thread.terminate();
      }
    } finally {
      this.#busy--;
      this.#waiting.shift()?.();
    }
  }
}
const threads = new ThreadPool();

/** One thread's messages in order; a thread that dies (out of memory, a crash) fails the document it was parsing. */
class Inbox {
  #queue: PdfThreadMessage[] = [];
  #failure: unknown;
  failed = false;
  #wake: (() => void) | undefined;

  constructor(thread: Worker) {
    thread.on('message', (m: PdfThreadMessage) => {
      this.#queue.push(m);
      this.#wake?.();
    });
    thread.on('error', (err) => this.#fail(err));
    thread.on('exit', (code) => this.#fail(new Error(`the PDF thread exited (code ${code})`)));
  }

  async next(filename: string): Promise<PdfThreadMessage> {
    for (;;) {
      const m = this.#queue.shift();
      if (m) return m;
      if (this.failed) throw threadError(filename, this.#failure);
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  #fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.#failure = err;
    this.#wake?.();
  }
}

function asError(m: { name?: string; message: string }): Error {
  const err = new Error(m.message);
  if (m.name) err.name = m.name;
  return err;
}

function threadError(filename: string, cause: unknown): ConnectorError {
  if ((cause as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return tooLarge(
      filename,
      'the PDF heap',
      PDF_THREAD_HEAP.maxOldGenerationSizeMb,
      `parsing it needs more than ${PDF_THREAD_HEAP.maxOldGenerationSizeMb} MB of memory`,
    );
  }
  // A thread that died for another reason says nothing certain about the document: let the activity retry.
  return new ConnectorError(FailureType.Unavailable, `parsing ${filename} failed (${errorMessage(cause)})`, { cause });
}

function openError(filename: string, err: Error): ConnectorError {
  if (err.name === 'PasswordException') {
    return new ConnectorError(FailureType.UnsupportedFormat, `${filename} is a password-protected PDF`, { cause: err });
  }
  return new ConnectorError(FailureType.CorruptDocument, `${filename} is not a valid PDF (${errorMessage(err)})`, { cause: err });
}
