import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { BlobStore } from '../connectors/blobstore/blobstore.ts';

/**
 * Keys of one document's intermediate artifacts in the blob store. Only these keys travel through Temporal history
 * (claim-check); the parsed text, chunks and vectors stay in the blob store.
 */
export interface WorkRef {
  /** Folder of this workflow run's artifacts; deleted by cleanupWork. */
  prefix: string;
  contentHash: string;
  bytes: number;
  /** The version of the object the chunks were read from (ETag, or size+mtime). */
  sourceVersion?: string;
  /** When the event that caused this work happened (ISO), recorded so older events are ignored later. */
  eventAt?: string;
  chunksKey?: string;
  /** The parsed text, kept only when the pipeline late-chunks (the embed step needs the whole document). */
  textKey?: string;
  chunks?: number;
  tokens?: number;
  vectorsKey?: string;
  dims?: number;
  /** The embedder's similarity metric, for the sinks' indexes (ingest workers do not load the model). */
  metric?: 'cosine' | 'dot' | 'l2';
}

/** One line of the chunks file. */
export interface ChunkLine {
  i: number;
  id: string;
  start: number;
  end: number;
  tokens: number;
  /** sha256 of the chunk text: the embedding cache key. */
  hash: string;
  text: string;
  /** Heading path of the chunk's section, outermost first; left out when the chunker gives none (or an empty one). */
  headings?: string[];
}

/** Streams the chunks file line by line. */
export async function* readChunks(blobs: BlobStore, key: string): AsyncGenerator<ChunkLine> {
  const lines = createInterface({ input: await blobs.get(key), crlfDelay: Infinity });
  for await (const line of lines) if (line) yield JSON.parse(line) as ChunkLine;
}

/** Streams the vectors file (little-endian float32, `dims` per chunk, in chunk order) one vector at a time. */
export async function* readVectors(blobs: BlobStore, key: string, dims: number): AsyncGenerator<Float32Array> {
  const stride = dims * 4;
  let carry = Buffer.alloc(0);
  for await (const piece of (await blobs.get(key)) as Readable) {
    let buf = carry.length ? Buffer.concat([carry, piece as Buffer]) : (piece as Buffer);
    let off = 0;
    for (; off + stride <= buf.length; off += stride) {
      const v = new Float32Array(dims);
      for (let d = 0; d < dims; d++) v[d] = buf.readFloatLE(off + d * 4);
      yield v;
    }
    carry = Buffer.from(buf.subarray(off));
    buf = Buffer.alloc(0);
  }
  if (carry.length) throw new Error(`vectors file ${key} ends with ${carry.length} stray bytes`);
}

/** Groups an async iterable into arrays of `size`. */
export async function* batches<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}
