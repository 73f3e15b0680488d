import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { ChunkMetadata, HybridFusion, HybridQuery } from './sink.ts';

// Checks every sink applies before writing a batch, so a bad record fails the batch with nothing half-written.

export function invalid(message: string): ConnectorError {
  return new ConnectorError(FailureType.InvalidInput, message);
}

export function rejected(message: string): ConnectorError {
  return new ConnectorError(FailureType.SinkRejected, message);
}

/**
 * hasIndex from a lookup that rejects (SinkRejected) a name that is an alias or a collection ensureIndex did not make:
 * neither is an index of ours. Other failures (an outage) pass through.
 */
export function ownIndexFound(lookup: Promise<unknown>): Promise<boolean> {
  return lookup.then(
    (found) => found !== undefined,
    (err: unknown) => (err instanceof ConnectorError && err.type === FailureType.SinkRejected ? false : Promise.reject(err)),
  );
}

/** Checks scanChunks' options (every sink the same way); returns deletedSince with its default (0). */
export function checkScanOptions(index: string, opts: { limit: number; deletedSince?: number }, maxLimit: number): number {
  const { limit, deletedSince = 0 } = opts;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw invalid(`scanChunks on ${index}: limit must be an integer from 1 to ${maxLimit}`);
  }
  if (!Number.isSafeInteger(deletedSince) || deletedSince < 0) {
    throw invalid(`scanChunks on ${index}: deletedSince must be a non-negative integer`);
  }
  return deletedSince;
}

/** The vector has the index's dimension and only finite components. */
export function checkVector(v: Float32Array, dims: number, what: string): void {
  if (v.length !== dims) throw invalid(`${what}: vector has ${v.length} dimensions, the index has ${dims}`);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw invalid(`${what}: vector component ${i} is ${v[i]}`);
  }
}

/** Chunk metadata as every sink stores it: snake_case fields, strings and numbers only. */
export interface StoredMetadata {
  tenant: string;
  source_uri: string;
  chunk_index: number;
  start: number;
  end: number;
  content_hash: string;
  pipeline_version: string;
  /** The heading path as JSON array text (see encodeHeadingPath); '' when the chunk has none. */
  heading_path: string;
}

/**
 * The heading path as one string every database can store: JSON array text, `["Guide","Install"]`. Not a ' > ' join:
 * headings may contain '>' themselves (`a > b` in code spans, arrows), and JSON reads back exactly whatever they hold.
 * No path and an empty path are both '' (a string field can't tell them apart, and neither carries information).
 */
export function encodeHeadingPath(path: readonly string[] | undefined): string {
  return path && path.length > 0 ? JSON.stringify(path) : '';
}

/** The inverse of encodeHeadingPath; anything that is not a JSON array of strings reads as no path. */
export function decodeHeadingPath(stored: unknown): string[] | undefined {
  if (typeof stored !== 'string' || stored === '') return undefined;
  try {
    const path: unknown = JSON.parse(stored);
    if (Array.isArray(path) && path.length > 0 && path.every((h) => typeof h === 'string')) return path as string[];
  } catch {
    // Written by something else: no path rather than a failed read.
  }
  return undefined;
}

export function toStored(m: ChunkMetadata): StoredMetadata {
  return {
    tenant: m.tenant,
    source_uri: m.sourceUri,
    chunk_index: m.chunkIndex,
    start: m.start,
    end: m.end,
    content_hash: m.contentHash,
    pipeline_version: m.pipelineVersion,
    heading_path: encodeHeadingPath(m.headingPath),
  };
}

/**
 * Reads stored fields back; a field a database dropped comes back empty rather than undefined, except the heading
 * path, which is left out when there is none (records from collections made before it existed have none).
 */
export function fromStored(r: Partial<Record<keyof StoredMetadata, unknown>>): ChunkMetadata {
  const m: ChunkMetadata = {
    tenant: String(r.tenant ?? ''),
    sourceUri: String(r.source_uri ?? ''),
    chunkIndex: Number(r.chunk_index ?? 0),
    start: Number(r.start ?? 0),
    end: Number(r.end ?? 0),
    contentHash: String(r.content_hash ?? ''),
    pipelineVersion: String(r.pipeline_version ?? ''),
  };
  const headingPath = decodeHeadingPath(r.heading_path);
  if (headingPath) m.headingPath = headingPath;
  return m;
}

/** Checks a hybrid query's weights (sinks call it before any request). */
export function checkHybridQuery(
  index: string,
  q: HybridQuery,
  fusions: readonly HybridFusion[] = ['rrf', 'relative-score'],
): void {
  if (typeof q.text !== 'string' || q.text.trim() === '') {
    throw new ConnectorError(FailureType.InvalidInput, `hybrid search on ${index}: the query text is empty`);
  }
  if (!(q.alpha >= 0 && q.alpha <= 1)) {
    throw new ConnectorError(FailureType.InvalidInput, `hybrid search on ${index}: alpha must be in [0, 1], got ${q.alpha}`);
  }
  if (!fusions.includes(q.fusion)) {
    throw new ConnectorError(
      FailureType.InvalidInput,
      `hybrid search on ${index}: this sink fuses by ${fusions.join(' or ')}, not ${String(q.fusion)}` +
        (q.fusion === 'convex' ? " (convex is the Pinecone sink's one-query fusion)" : ''),
    );
  }
}
