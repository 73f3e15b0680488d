import { Worker } from 'node:worker_threads';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { errorMessage, tooLarge } from './bytes.ts';

/**
 * Parser threads (PDF and DOCX together) busy at once in one process, by default. Each holds its whole file, a heap
 * and the buffers it decodes, so more concurrent parses would multiply the peak; the rest wait here before reading
 * their bytes. Idle threads count too: starting a thread when this many exist ends an idle one first.
 */
export const MAX_PARSE_THREADS = 2;
let maxThreads: number = MAX_PARSE_THREADS;

/**
 * Sets how many parser threads this process may run at once (at least 1). A process that also holds the embedding
 * model runs one: the model's memory and two worst-case parses together would pass the worker's memory bound.
 */
export function setMaxParseThreads(n: number): void {
  maxThreads = Math.max(1, Math.floor(n));
  while (busy < maxThreads && waiting.length > 0) waiting.shift()!();
}

/** How many parser threads this process may run at once. */
export function maxParseThreads(): number {
  return maxThreads;
}
/** A thread left idle this long ends, returning its heap; until then the next document skips starting one. */
const IDLE_THREAD_MS = 5_000;
/**
 * How often a busy thread's memory outside its heap (ArrayBuffers: inflated streams and parts) is read. The reading
 * is served by an interrupt, so it arrives even while the thread is inside one long synchronous decode; a thread
 * found over its budget is terminated (also by interrupt). Measured: pdf.js inflates about 1 GB/s, so the overshoot
 * is tens of MB beyond the budget, plus the buffer being doubled at that moment.
 */
const MEMORY_POLL_MS = 10;

export interface ThreadKind {
  /** Named in failures: "the PDF heap". */
  name: string;
  url: URL;
  heap: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number };
}

export interface ThreadSlot<Req, Msg> {
  readonly kind: ThreadKind;
  readonly thread: Worker;
  readonly inbox: Inbox<Msg>;
  send(m: Req, transfer?: ArrayBuffer[]): void;
  /**
   * Ends the thread as soon as its external memory (ArrayBuffers, which the heap limit does not cover) passes
   * `bytes`; the document then fails with `failure(used)`. Lasts until the slot is released.
   */
  limitExternalMemory(bytes: number, failure: (used: number) => ConnectorError): void;
}

interface Entry {
  slot: ThreadSlot<unknown, unknown>;
  idleTimer?: NodeJS.Timeout;
  watch?: NodeJS.Timeout;
}

let busy = 0;
const idle: Entry[] = [];
const waiting: (() => void)[] = [];
const entries = new WeakMap<object, Entry>();

/** A thread of this kind, reused when one is idle; waits while maxParseThreads() are busy. */
export async function acquireThread<Req, Msg>(kind: ThreadKind): Promise<ThreadSlot<Req, Msg>> {
  while (busy >= maxThreads) await new Promise<void>((r) => waiting.push(r));
  busy++;
  const reused = idle.findIndex((e) => e.slot.kind === kind);
  if (reused >= 0) {
    const [entry] = idle.splice(reused, 1) as [Entry];
    clearTimeout(entry.idleTimer);
    entry.slot.thread.ref();
    return entry.slot as ThreadSlot<Req, Msg>;
  }
  // Threads of another kind idling here would hold their heaps next to this one's.
  while (busy + idle.length > maxThreads) void idle.shift()?.slot.thread.terminate();
  return startThread<Req, Msg>(kind);
}

function startThread<Req, Msg>(kind: ThreadKind): ThreadSlot<Req, Msg> {
  const thread = new Worker(kind.url, { resourceLimits: kind.heap });
  const inbox = new Inbox<Msg>(thread, kind);
  const slot: ThreadSlot<Req, Msg> = {
    kind,
    thread,
    inbox,
    send: (m, transfer = []) => thread.postMessage(m, transfer),
    limitExternalMemory(bytes, failure) {
      const entry = entries.get(slot) as Entry;
      clearInterval(entry.watch);
      entry.watch = setInterval(() => {
        thread.getHeapStatistics().then(
          (stats) => {
            const external = (stats as { external_memory?: number }).external_memory ?? 0;
            if (external <= bytes || inbox.failed) return;
            inbox.fail(failure(external));
            void thread.terminate();
          },
          () => {}, // the thread has ended; its inbox says why
        );
      }, MEMORY_POLL_MS).unref();
    },
  };
  entries.set(slot, { slot: slot as ThreadSlot<unknown, unknown> });
  return slot;
}

/** Returns the slot: an unbroken thread that finished its document idles for reuse, any other ends now. */
export async function releaseThread(slot: ThreadSlot<unknown, unknown>, reusable: boolean): Promise<void> {
  const entry = entries.get(slot) as Entry;
  clearInterval(entry.watch);
  entry.watch = undefined;
  try {
    if (reusable && !slot.inbox.failed) {
      // Idle threads never keep a process alive, and end on their own.
      slot.thread.unref();
      entry.idleTimer = setTimeout(() => {
        const at = idle.indexOf(entry);
        if (at >= 0) idle.splice(at, 1);
        void slot.thread.terminate();
      }, IDLE_THREAD_MS).unref();
      idle.push(entry);
    } else {
      await slot.thread.terminate();
    }
  } finally {
    busy--;
    waiting.shift()?.();
  }
}

/** One thread's messages in order; a thread that dies (out of memory, a crash) fails the document it was parsing. */
export class Inbox<Msg> {
  readonly #kind: ThreadKind;
  #queue: Msg[] = [];
  #failure: unknown;
  failed = false;
  #wake: (() => void) | undefined;

  constructor(thread: Worker, kind: ThreadKind) {
    this.#kind = kind;
    thread.on('message', (m: Msg) => {
      this.#queue.push(m);
      this.#wake?.();
    });
    thread.on('error', (err) => this.fail(err));
    thread.on('exit', (code) => this.fail(new Error(`the ${kind.name} thread exited (code ${code})`)));
  }

  async next(filename: string): Promise<Msg> {
    for (;;) {
      const m = this.#queue.shift();
      if (m) return m;
      if (this.failed) throw threadError(filename, this.#kind, this.#failure);
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** The first failure wins: a thread terminated for its memory reports that, not the exit that follows. */
  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.#failure = err;
    this.#wake?.();
  }
}

function threadError(filename: string, kind: ThreadKind, cause: unknown): ConnectorError {
  if (cause instanceof ConnectorError) return cause;
  if ((cause as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
    const mb = kind.heap.maxOldGenerationSizeMb;
    return tooLarge(filename, `the ${kind.name} heap`, mb, `parsing it needs more than ${mb} MB of memory`);
  }
  // A thread that died for another reason says nothing certain about the document: let the activity retry.
  return new ConnectorError(FailureType.Unavailable, `parsing ${filename} failed (${errorMessage(cause)})`, { cause });
}
