import { heartbeat } from './heartbeat.ts';
import { killPoint } from '../connectors/shared/kill-points.ts';
import type { IndexSpec, Sink, SinkRecord } from '../connectors/sinks/sink.ts';
import { indexAlias, indexName } from '../pipeline/spec.ts';
import type { PipelineRef } from '../workflows/types.ts';
import { sinkFor, type PipelineDeps } from './deps.ts';
import { adoptIndexOnce } from './index-versions.ts';
import { readChunks, readVectors, type WorkRef } from './work.ts';
import { failureLabel, metrics, pipelineLabel, since } from '../connectors/shared/metrics.ts';

const UPSERT_BATCH = 256;

/**
 * ensureIndex once per (sink, index) per worker process: the many document activities running at once share one
 * call instead of racing to create the same collection. A failed call is forgotten, so the next activity retries it.
 */
const ensured = new WeakMap<Sink, Map<string, Promise<void>>>();
function ensureOnce(sink: Sink, spec: IndexSpec): Promise<void> {
  let bySpec = ensured.get(sink);
  if (!bySpec) ensured.set(sink, (bySpec = new Map()));
  const key = `${spec.name}/${spec.dims}/${spec.metric}`;
  let p = bySpec.get(key);
  if (!p) {
    p = sink.ensureIndex(spec);
    bySpec.set(key, p);
    p.catch(() => bySpec.delete(key));
  }
  return p;
}

/**
 * Writes the document's new chunks to one sink, then deletes the chunks the sink still holds for the document that
 * the new version no longer has. Write-then-delete means readers never see the document vanish during an update; the
 * stale set comes from the sink itself, so a sink that missed an earlier update heals here too.
 */
export async function upsertToSink(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; sink: string; work: WorkRef },
): Promise<{ upserted: number; staleDeleted: number }> {
  const { pipeline, sourceUri, work } = input;
  if (!work.chunksKey || !work.vectorsKey || !work.dims) throw new Error('upsertToSink runs after embedChunks');
  const sink = sinkFor(deps, input.sink);
  const index = indexName(pipeline);
  await ensureOnce(sink, { name: index, dims: work.dims, metric: work.metric ?? 'cosine' });
  await adoptIndexOnce(deps, input.sink, pipeline);

  const fresh = new Set<string>();
  const vectors = readVectors(deps.blobs, work.vectorsKey, work.dims);
  let batch: SinkRecord[] = [];
  let upserted = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const started = performance.now();
    await sink.upsert(index, batch).catch((err: unknown) => {
      metrics.sinkErrors.inc({ pipeline: pipelineLabel(pipeline), sink: input.sink, type: failureLabel(err) });
      throw err;
    });
    metrics.sinkUpsertSeconds.observe({ pipeline: pipelineLabel(pipeline), sink: input.sink }, since(started));
    upserted += batch.length;
    batch = [];
    heartbeat({ upserted });
  };
  try {
    for await (const c of readChunks(deps.blobs, work.chunksKey)) {
      const v = await vectors.next();
      if (v.done) throw new Error(`vectors file ${work.vectorsKey} is shorter than the chunks file`);
      fresh.add(c.id);
      batch.push({
        id: c.id,
        vector: v.value,
        text: c.text,
        metadata: {
          tenant: pipeline.tenant,
          sourceUri,
          chunkIndex: c.i,
          start: c.start,
          end: c.end,
          contentHash: work.contentHash,
          pipelineVersion: String(pipeline.version),
          ...(c.headings ? { headingPath: c.headings } : {}), // chunk lines never carry an empty path
        },
      });
      if (batch.length === UPSERT_BATCH) await flush();
    }
  } finally {
    // Closes the vectors file even when the loop ends early.
    await vectors.return(undefined);
  }
  await flush();
  killPoint('upsert.after-write');

  const stale = (await sink.idsOfDocument(index, pipeline.tenant, sourceUri)).filter((id) => !fresh.has(id));
  if (stale.length > 0) await sink.deleteIds(index, stale);
  killPoint('upsert.after-stale-delete');
  return { upserted, staleDeleted: stale.length };
}

/**
 * Removes every chunk of the document from one sink: from this version's index and, while a new version is being
 * built beside the live one, from the live one too, so a delete is never lost to readers in either.
 */
export async function deleteFromSink(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; sink: string },
): Promise<{ deleted: number }> {
  const { pipeline, sourceUri } = input;
  const sink = sinkFor(deps, input.sink);
  const index = indexName(pipeline);
  const live = await sink.getAlias(indexAlias(pipeline));
  let deleted = 0;
  for (const target of live === undefined || live === index ? [index] : [index, live]) {
    deleted += (await sink.idsOfDocument(target, pipeline.tenant, sourceUri).catch(() => [])).length;
    await sink.deleteDocument(target, pipeline.tenant, sourceUri);
    killPoint('delete.after-sink-delete');
  }
  return { deleted };
}
