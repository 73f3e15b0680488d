import type { Readable } from 'node:stream';

export type BlobBody = Readable | AsyncIterable<Uint8Array | string> | Uint8Array | string;

/**
 * Holds the pipeline's intermediate artifacts (parsed text, chunks, vectors) so Temporal history carries only their
 * keys. Keys are `/`-separated paths; writes are atomic (a reader never sees half an object).
 */
export interface BlobStore {
  /** Streams `body` into `key`, replacing any previous object; returns the bytes written. */
  put(key: string, body: BlobBody): Promise<{ bytes: number }>;
  /** Throws ConnectorError(NotFound) when the key does not exist. */
  get(key: string): Promise<Readable>;
  exists(key: string): Promise<boolean>;
  /** When the key was last written. Throws ConnectorError(NotFound) when it does not exist. */
  modifiedAt(key: string): Promise<Date>;
  delete(key: string): Promise<void>;
  /** Deletes every key under `prefix`; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  list(prefix: string): AsyncIterable<string>;
  close(): Promise<void>;
}
