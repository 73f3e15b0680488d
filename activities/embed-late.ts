import { heartbeat } from './heartbeat.ts';
import type { LateChunkEmbedder } from '../connectors/embedders/late/late-chunking.ts';
import { sha256Hex } from '../pipeline/ids.ts';
import type { PipelineDeps } from './deps.ts';
import { readChunks, type ChunkLine, type WorkRef } from './work.ts';

/**
 * Late chunking: every chunk's vector comes from one pass over the whole document (macro windows for long ones), so
 * the cache key is the chunk's place in this exact document (content hash + span), not its text alone. Cached chunks
 * are skipped; the others are pooled in the context of the full text all the same.
 */
export async function embedLate(
  deps: PipelineDeps,
  late: LateChunkEmbedder,
  work: WorkRef,
  vectorsKey: string,
  signal?: AbortSignal,
): Promise<{ embedded: number; cached: number }> {
  const chunks: Pick<ChunkLine, 'start' | 'end'>[] = [];
  for await (const c of readChunks(deps.blobs, work.chunksKey!)) chunks.push({ start: c.start, end: c.end });
  const keys = chunks.map((c) => sha256Hex(`${work.contentHash}:${c.start}:${c.end}`));
  const vectors = deps.cache ? await deps.cache.getMany(late.identity, keys) : chunks.map(() => undefined);
  const missing = vectors.flatMap((v, i) => (v ? [] : [i]));
  if (missing.length > 0) {
    const text = await readText(deps, work.textKey!);
    const fresh = await late.embedChunks(
      text,
      missing.map((i) => chunks[i]!),
      { onProgress: (done, total) => heartbeat({ done, total }), ...(signal && { signal }) },
    );
    missing.forEach((i, k) => (vectors[i] = fresh[k]));
    await deps.cache?.putMany(
      late.identity,
      missing.map((i, k) => ({ hash: keys[i]!, vector: fresh[k]! })),
    );
  }
  const out = new Float32Array(chunks.length * late.dims);
  vectors.forEach((v, i) => out.set(v!, i * late.dims));
  await deps.blobs.put(vectorsKey, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  return { embedded: missing.length, cached: chunks.length - missing.length };
}

async function readText(deps: PipelineDeps, key: string): Promise<string> {
  const parts: string[] = [];
  const stream = await deps.blobs.get(key);
  stream.setEncoding('utf8');
  for await (const part of stream) parts.push(part as string);
  return parts.join('');
}
