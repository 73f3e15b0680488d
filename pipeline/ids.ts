import { createHash } from 'node:crypto';

/**
 * Deterministic chunk id: the same (tenant, document, chunk index, chunker spec, pipeline version) always gives the
 * same id, so a retry or a re-run overwrites instead of duplicating. Formatted as an RFC 4122 UUID (version 5 bits),
 * which every sink accepts.
 */
export function chunkId(parts: {
  tenant: string;
  sourceUri: string;
  index: number;
  chunkerSpec: string;
  pipelineVersion: string;
}): string {
  const h = createHash('sha256')
    .update(`${parts.tenant}\u0000${parts.sourceUri}\u0000${parts.index}\u0000${parts.chunkerSpec}\u0000${parts.pipelineVersion}`)
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Short stable key of a document for blob paths (source uris may hold any character). */
export function documentKey(tenant: string, sourceUri: string): string {
  return sha256Hex(`${tenant}\u0000${sourceUri}`).slice(0, 24);
}
