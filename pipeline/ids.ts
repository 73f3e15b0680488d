import { createHash } from 'node:crypto';
import type { DocIdentity } from '../workflows/types.ts';

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

/** Uris longer than this (UTF-8 bytes) are hashed into workflow ids; Temporal refuses ids over 1,000 bytes. */
const MAX_URI_IN_ID = 400;

/** The uri itself when short, else `sha256:<hex>`: ids stay readable in the UI for ordinary paths. */
export function uriIdPart(uri: string): string {
  return Buffer.byteLength(uri, 'utf8') <= MAX_URI_IN_ID ? uri : `sha256:${sha256Hex(uri)}`;
}

/** `doc:{pipeline}-v{version}:{tenant}:{uri}`: one entity workflow per (pipeline, version, tenant, document). */
export function documentWorkflowId(id: DocIdentity, sourceUri: string): string {
  return `doc:${id.name}-v${id.version}:${id.tenant}:${uriIdPart(sourceUri)}`;
}

/** One source run per (pipeline, version, tenant, source prefix) at a time. */
export function sourceWorkflowId(id: DocIdentity, sourceUri: string): string {
  return `source:${id.name}-v${id.version}:${id.tenant}:${uriIdPart(sourceUri)}`;
}
