import type { DocumentRecord } from '../connectors/ledger/ledger.ts';
import { pipelineStamp, type PipelineRef } from '../workflows/types.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { killPoint } from '../connectors/shared/kill-points.ts';
import { indexAlias } from '../pipeline/spec.ts';
import { sinkFor, type PipelineDeps } from './deps.ts';
import { versionOfIndex } from './index-versions.ts';
import { readChunks, type WorkRef } from './work.ts';
import { metrics, pipelineLabel } from '../connectors/shared/metrics.ts';

function base(prev: DocumentRecord | undefined, pipeline: PipelineRef, sourceUri: string): DocumentRecord {
  return (
    prev ?? {
      tenant: pipeline.tenant,
      sourceUri,
      status: 'processing',
      contentHash: null,
      pipelineVersion: null,
      chunkIds: [],
      sinks: {},
      lastError: null,
      sourceVersion: null,
      eventAt: null,
      updatedAt: new Date().toISOString(),
    }
  );
}

/** An event time (ms since the epoch) as the ledger stores it. */
export function eventIso(eventTime: number | undefined): string | null {
  return eventTime === undefined || !Number.isFinite(eventTime) ? null : new Date(eventTime).toISOString();
}

/** The later of two ISO times (either may be missing). */
export function laterOf(a: string | null, b: string | null): string | null {
  return a === null ? b : b === null ? a : a > b ? a : b;
}

function committedAlready(prev: DocumentRecord | undefined, pipeline: PipelineRef, work: WorkRef): boolean {
  return (
    prev !== undefined &&
    prev.contentHash === work.contentHash &&
    prev.pipelineVersion === pipelineStamp(pipeline) &&
    (work.sourceVersion === undefined || prev.sourceVersion === work.sourceVersion)
  );
}

/** Records the document's new version: hash, chunk ids and every sink's state. */
export async function commitDocument(
  deps: PipelineDeps,
  input: {
    pipeline: PipelineRef;
    sourceUri: string;
    work: WorkRef;
    sinks: Record<string, { ok: boolean; upserted?: number; error?: string }>;
  },
): Promise<void> {
  const { pipeline, sourceUri, work } = input;
  const prev = await deps.ledger.get(pipeline.tenant, sourceUri);
  const chunkIds: string[] = [];
  try {
    for await (const c of readChunks(deps.blobs, work.chunksKey!)) chunkIds.push(c.id);
  } catch (err) {
    // A retry after a kill between the ledger write and the removal of the artifacts (this run's folder is removed
    // only after the write): the ledger already holds this work, so there is nothing left to do.
    if (err instanceof ConnectorError && err.type === FailureType.NotFound && committedAlready(prev, pipeline, work)) {
      await deps.blobs.deletePrefix(`${work.prefix}/`);
      return;
    }
    throw err;
  }
  const now = new Date().toISOString();
  const failed = Object.entries(input.sinks).filter(([, r]) => !r.ok);
  await deps.ledger.put({
    ...base(prev, pipeline, sourceUri),
    status: failed.length === 0 ? 'ingested' : 'failed',
    contentHash: work.contentHash,
    pipelineVersion: pipelineStamp(pipeline),
    chunkIds,
    sinks: Object.fromEntries(
      Object.entries(input.sinks).map(([name, r]) => [
        name,
        r.ok
          ? { state: 'ok' as const, upserted: r.upserted ?? 0, updatedAt: now }
          : { state: 'failed' as const, error: r.error, updatedAt: now },
      ]),
    ),
    lastError: failed.length ? { type: 'SinkFailed', message: failed.map(([k, r]) => `${k}: ${r.error}`).join('; ') } : null,
    sourceVersion: work.sourceVersion ?? prev?.sourceVersion ?? null,
    eventAt: laterOf(prev?.eventAt ?? null, work.eventAt ?? null),
    updatedAt: now,
  });
  killPoint('commit.after-ledger-write');
  metrics.documents.inc({
    pipeline: pipelineLabel(pipeline),
    outcome: failed.length === 0 ? 'ingested' : 'failed',
    failure_type: failed.length === 0 ? '' : 'SinkFailed',
  });
  // The artifacts are no longer needed once the ledger has the outcome (one activity less per document).
  await deps.blobs.deletePrefix(`${work.prefix}/`);
  killPoint('commit.after-cleanup');
}

/** Marks a document failed with its typed reason; what the sinks hold of its last good version stays. */
export async function recordFailure(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; error: { type: string; message: string } },
): Promise<void> {
  const prev = await deps.ledger.get(input.pipeline.tenant, input.sourceUri);
  await deps.ledger.put({
    ...base(prev, input.pipeline, input.sourceUri),
    status: 'failed',
    lastError: input.error,
    updatedAt: new Date().toISOString(),
  });
  metrics.documents.inc({ pipeline: pipelineLabel(input.pipeline), outcome: 'failed', failure_type: input.error.type });
}

/**
 * Marks a document whose run was cancelled before an outcome: its chunks, hash and sink states stay those of the last
 * version committed (what the sinks still hold), so the next run is not skipped as up to date. A deleted document
 * stays deleted, and a record that another run has since committed is left alone.
 */
export async function recordCancelled(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; startedAt: string },
): Promise<void> {
  const prev = await deps.ledger.get(input.pipeline.tenant, input.sourceUri);
  if (prev?.status === 'deleted' || (prev !== undefined && prev.updatedAt > input.startedAt)) return;
  await deps.ledger.put({
    ...base(prev, input.pipeline, input.sourceUri),
    status: 'cancelled',
    lastError: { type: 'Cancelled', message: 'cancelled before it finished; the sinks keep the version before' },
    updatedAt: new Date().toISOString(),
  });
  metrics.documents.inc({ pipeline: pipelineLabel(input.pipeline), outcome: 'cancelled', failure_type: '' });
}

export async function recordDeleted(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; eventTime?: number },
): Promise<void> {
  const { pipeline, sourceUri } = input;
  const eventAt = eventIso(input.eventTime);
  // deleteFromSink also cleared the document from the version readers see while this one is built (blue/green): its
  // ledger rows follow, so every version's ledger keeps matching its index.
  const versions = new Set([pipeline.version]);
  for (const name of pipeline.sinks) {
    const live = await sinkFor(deps, name).getAlias(indexAlias(pipeline));
    const v = live === undefined ? undefined : versionOfIndex(pipeline, live);
    if (v !== undefined) versions.add(v);
  }
  for (const version of versions) {
    const ledger = version === pipeline.version ? deps.ledger : deps.ledger.forVersion(version);
    const prev = await ledger.get(pipeline.tenant, sourceUri);
    if (version !== pipeline.version && (prev === undefined || prev.status === 'deleted')) continue;
    const now = new Date().toISOString();
    await ledger.put({
      ...base(prev, pipeline, sourceUri),
      status: 'deleted',
      chunkIds: [],
      contentHash: null,
      sinks: Object.fromEntries(pipeline.sinks.map((s) => [s, { state: 'ok' as const, upserted: 0, updatedAt: now }])),
      lastError: null,
      sourceVersion: null,
      eventAt: laterOf(prev?.eventAt ?? null, eventAt),
      updatedAt: now,
    });
    killPoint('record-deleted.after-ledger-write');
  }
  metrics.documents.inc({ pipeline: pipelineLabel(pipeline), outcome: 'deleted', failure_type: '' });
}
