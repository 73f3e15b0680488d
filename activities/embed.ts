import { Context } from '@temporalio/activity';
import { heartbeat } from './heartbeat.ts';
import { EmbedInputsError } from '../connectors/embedders/hosted.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { killPoint } from '../connectors/shared/kill-points.ts';
import { embedLate } from './embed-late.ts';
import type { PipelineRef } from '../workflows/types.ts';
import { embedSignal, type PipelineDeps } from './deps.ts';
import { batches, readChunks, type WorkRef } from './work.ts';
import { metrics, pipelineLabel, since } from '../connectors/shared/metrics.ts';

/**
 * Embeds the chunks file in batches into a vectors file. Vectors already in the cache (same model, same chunk text)
 * are not paid for again, which also makes a retried activity resume cheaply where the last attempt stopped.
 */
export async function embedChunks(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; work: WorkRef },
): Promise<{ work: WorkRef; embedded: number; cached: number }> {
  const { work } = input;
  const embedder = deps.embedder;
  const cache = deps.cache;
  if (!embedder || !work.chunksKey) throw new Error('embedChunks runs on an embed worker, after chunkDocument');
  const ctx = Context.current();
  const signal = embedSignal(deps, ctx.cancellationSignal);
  const vectorsKey = `${work.prefix}/vectors.f32`;
  if (deps.late && work.textKey) {
    const r = await embedLate(deps, deps.late, work, vectorsKey, signal);
    killPoint('embed.after-vectors-written');
    return { work: { ...work, vectorsKey, dims: deps.late.dims, metric: deps.late.metric }, ...r };
  }
  const batchSize = deps.spec.embedder.batchSize;
  let embedded = 0;
  let cached = 0;
  let done = 0;

  async function* vectors(): AsyncGenerator<Uint8Array> {
    for await (const batch of batches(readChunks(deps.blobs, work.chunksKey!), batchSize)) {
      const hits = cache
        ? await cache.getMany(
            embedder!.identity,
            batch.map((c) => c.hash),
          )
        : batch.map(() => undefined);
      const missIdx = hits.flatMap((h, i) => (h ? [] : [i]));
      const labels = { pipeline: pipelineLabel(input.pipeline), embedder: embedder!.identity };
      if (cache) {
        metrics.embedCache.inc({ pipeline: labels.pipeline, result: 'hit' }, batch.length - missIdx.length);
        metrics.embedCache.inc({ pipeline: labels.pipeline, result: 'miss' }, missIdx.length);
      }
      if (missIdx.length > 0) {
        metrics.embedBatchTexts.observe(labels, missIdx.length);
        const started = performance.now();
        const fresh = await embedder!
          .embedDocuments(
            missIdx.map((i) => batch[i]!.text),
            { signal },
          )
          .catch(async (err: unknown) => {
            if (!(err instanceof EmbedInputsError)) throw err;
            // The API refused some chunks on their own: keep what the others cost, fail the document naming the chunks.
            await cache?.putMany(
              embedder!.identity,
              missIdx.flatMap((i, k) => (err.vectors[k] ? [{ hash: batch[i]!.hash, vector: err.vectors[k] }] : [])),
            );
            const bad = err.failures.map((f) => `chunk ${batch[missIdx[f.index]!]!.i}: ${f.message}`);
            throw new ConnectorError(
              FailureType.InvalidInput,
              `the embedding API refused ${bad.length} chunk(s): ${bad.slice(0, 5).join('; ')}`,
            );
          });
        metrics.embedSeconds.observe(labels, since(started));
        missIdx.forEach((i, k) => (hits[i] = fresh[k]));
        await cache?.putMany(
          embedder!.identity,
          missIdx.map((i, k) => ({ hash: batch[i]!.hash, vector: fresh[k]! })),
        );
      }
      embedded += missIdx.length;
      cached += batch.length - missIdx.length;
      done += batch.length;
      heartbeat({ done });
      const out = new Float32Array(batch.length * embedder!.dims);
      hits.forEach((v, i) => out.set(v!, i * embedder!.dims));
      yield new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
  }
  await deps.blobs.put(vectorsKey, vectors());
  killPoint('embed.after-vectors-written');
  return { work: { ...work, vectorsKey, dims: embedder.dims, metric: embedder.metric }, embedded, cached };
}

/** The shape of this pipeline's vectors (dims and metric), for an index made before any document is embedded again. */
export async function describeEmbedder(
  deps: PipelineDeps,
  _input: { pipeline: PipelineRef },
): Promise<{ dims: number; metric: 'cosine' | 'dot' | 'l2' }> {
  const e = deps.late ?? deps.embedder;
  if (!e) throw new Error('describeEmbedder runs on an embed worker');
  return { dims: e.dims, metric: e.metric };
}
