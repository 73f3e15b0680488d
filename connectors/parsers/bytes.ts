import type { Readable } from 'node:stream';
import { ConnectorError, FailureType } from '../shared/errors.ts';

/**
 * Largest slice handed to a decoder at once. Sources may push one huge chunk (Readable.from([buffer])); slicing
 * keeps every decoded piece, and so every string the parsers hold, small.
 */
export const MAX_SLICE_BYTES = 64 * 1024;

/**
 * The object's bytes, read once: a few leading bytes can be peeked (to pick a format) and are then replayed to the
 * parser, and the running total is checked against maxBytes on every chunk so an oversized object stops being read
 * as soon as it crosses the limit, whatever its declared size said.
 */
export class ByteSource {
  readonly filename: string;
  readonly maxBytes: number;
  #body: Readable;
  #iterator: AsyncIterator<unknown>;
  #head: Uint8Array[] = [];
  #headBytes = 0;
  #ended = false;
  #bytesRead = 0;
  #sizeHint: number | undefined;

  /** `sizeHint`, the size the source declared, lets readAll fill one buffer instead of gathering and copying parts. */
  constructor(body: Readable, filename: string, maxBytes: number, sizeHint?: number) {
    this.#body = body;
    this.filename = filename;
    this.maxBytes = maxBytes;
    this.#sizeHint = sizeHint;
    this.#iterator = body[Symbol.asyncIterator]();
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Reads until at least `n` bytes are buffered (or the stream ends) and returns the first `n` or fewer. */
  async peek(n: number): Promise<Uint8Array> {
    while (this.#headBytes < n && !this.#ended) {
      const chunk = await this.#next();
      if (chunk === undefined) break;
      this.#head.push(chunk);
      this.#headBytes += chunk.length;
    }
    const head = concat(this.#head, this.#headBytes);
    // Keep one buffer for the replay so a later peek does not concatenate again.
    this.#head = head.length > 0 ? [head] : [];
    return head.subarray(0, Math.min(n, head.length));
  }

  /** Every byte of the object, peeked ones first, in slices of at most MAX_SLICE_BYTES. */
  async *chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      const head = this.#head;
      this.#head = [];
      this.#headBytes = 0;
      for (const chunk of head) yield* slices(chunk);
      for (;;) {
        const chunk = await this.#next();
        if (chunk === undefined) return;
        yield* slices(chunk);
      }
    } finally {
      this.close();
    }
  }

  /**
   * The whole object in one buffer of its own (never a view into a shared pool, so it can be transferred), for formats
   * that need random access. Bounded by maxBytes. With a size hint the bytes land in one buffer as they arrive: the
   * peak is the object's size, not twice it (parts plus their concatenation).
   */
  async readAll(): Promise<Uint8Array> {
    const hint = this.#sizeHint;
    const out = new Uint8Array(hint !== undefined && hint <= this.maxBytes ? hint : 0);
    const rest: Uint8Array[] = []; // what the source sent beyond what it declared (or everything, undeclared)
    let filled = 0;
    let total = 0;
    for await (const chunk of this.chunks()) {
      if (rest.length === 0 && filled + chunk.length <= out.length) {
        out.set(chunk, filled);
        filled += chunk.length;
      } else rest.push(chunk);
      total += chunk.length;
    }
    if (rest.length > 0) return concat([out.subarray(0, filled), ...rest], total);
    return filled === out.length ? out : out.slice(0, filled);
  }

  /** Stops reading and releases the underlying stream (a no-op once it has ended). */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#body.destroy();
  }

  async #next(): Promise<Uint8Array | undefined> {
    if (this.#ended) return undefined;
    let result: IteratorResult<unknown>;
    try {
      result = await this.#iterator.next();
    } catch (err) {
      this.#ended = true;
      if (err instanceof ConnectorError) throw err;
      // A failing source stream (dropped connection, aborted request) says nothing about the document: retryable.
      throw new ConnectorError(FailureType.Unavailable, `reading ${this.filename} failed: ${errorMessage(err)}`, { cause: err });
    }
    if (result.done) {
      this.#ended = true;
      return undefined;
    }
    const value = result.value;
    const chunk = typeof value === 'string' ? Buffer.from(value, 'utf8') : (value as Uint8Array);
    this.#bytesRead += chunk.length;
    if (this.#bytesRead > this.maxBytes) {
      this.close();
      throw tooLarge(this.filename, 'maxBytes', this.maxBytes, `more than ${this.maxBytes} bytes were read`);
    }
    return chunk;
  }
}

function* slices(chunk: Uint8Array): Generator<Uint8Array> {
  if (chunk.length <= MAX_SLICE_BYTES) {
    if (chunk.length > 0) yield chunk;
    return;
  }
  for (let i = 0; i < chunk.length; i += MAX_SLICE_BYTES) yield chunk.subarray(i, i + MAX_SLICE_BYTES);
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0]) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function tooLarge(filename: string, limit: string, value: number, detail: string): ConnectorError {
  return new ConnectorError(FailureType.DocumentTooLarge, `${filename} is too large: ${detail} (limit ${limit} = ${value})`);
}

export function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\.$/, '');
}

const PIECE_CHARS = 64 * 1024;

/** A string already in memory, handed on in bounded pieces that never split a surrogate pair. */
export function* pieces(text: string): Generator<string> {
  let at = 0;
  while (at < text.length) {
    let end = Math.min(at + PIECE_CHARS, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield text.slice(at, end);
    at = end;
  }
}
