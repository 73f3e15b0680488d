import { IndexState, type IndexVersionRecord } from '../connectors/ledger/ledger.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { killPoint } from '../connectors/shared/kill-points.ts';
import type { Sink } from '../connectors/sinks/sink.ts';
import { indexAlias, indexName } from '../pipeline/spec.ts';
import { pipelineStamp, type PipelineRef } from '../workflows/types.ts';
import { sinkFor, type PipelineDeps } from './deps.ts';

// Blue/green index versions. Every pipeline version writes its own index (`{name}-v{version}`); readers use the alias
// (the pipeline's name), which points at one of them. The first version to be written is adopted by the alias at once;
// a later version is built beside the live one and goes live only through promotion: validate, switch, and retire the
// old version after a grace period (workflows/promote.ts). The ledger keeps the history per (alias, sink, index).

export interface VersionCheck {
  sink: string;
  alias: string;
  index: string;
  /** What the alias points at now. */
  current: string | undefined;
  /** Chunks the sink holds in the new index for the pipeline's tenant. */
  count: number;
  /** Chunks the ledger records for documents at this pipeline version. */
  expected: number;
  /** Live documents (ingested or unchanged) at this version, and in the version readers see now (or this one). */
  documents: number;
  liveDocuments: number;
  failedDocuments: number;
}

const now = (): string => new Date().toISOString();

async function record(deps: PipelineDeps, alias: string, sink: string, index: string, over: Partial<IndexVersionRecord>) {
  const prev = (await deps.ledger.listIndexVersions(alias)).find((v) => v.sink === sink && v.index === index);
  await deps.ledger.putIndexVersion({
    alias,
    sink,
    index,
    state: IndexState.building,
    chunks: null,
    promotedAt: null,
    retireAfter: null,
    ...prev,
    ...over,
    updatedAt: now(),
  });
}

/** Per worker process: the alias check runs once per (sink, alias), like ensureIndex. */
const adopted = new WeakMap<Sink, Map<string, Promise<void>>>();

/**
 * Before the first write of a pipeline version: an alias that does not exist yet is pointed at this version (the
 * pipeline's first index goes live as it fills); an existing alias is left alone and this version is recorded as
 * building, to go live through promotion.
 */
export function adoptIndexOnce(deps: PipelineDeps, sinkName: string, pipeline: PipelineRef): Promise<void> {
  const sink = sinkFor(deps, sinkName);
  let byAlias = adopted.get(sink);
  if (!byAlias) adopted.set(sink, (byAlias = new Map()));
  const index = indexName(pipeline);
  const key = `${indexAlias(pipeline)}/${index}`;
  let p = byAlias.get(key);
  if (!p) {
    p = adoptIndex(deps, sink, sinkName, pipeline);
    byAlias.set(key, p);
    p.catch(() => byAlias.delete(key));
  }
  return p;
}

async function adoptIndex(deps: PipelineDeps, sink: Sink, sinkName: string, pipeline: PipelineRef): Promise<void> {
  const alias = indexAlias(pipeline);
  const index = indexName(pipeline);
  const current = await sink.getAlias(alias);
  if (current === undefined) {
    await sink.setAlias(alias, index);
    killPoint('upsert.after-alias-set');
    await record(deps, alias, sinkName, index, { state: IndexState.current, promotedAt: now() });
  } else {
    const known = (await deps.ledger.listIndexVersions(alias)).some((v) => v.sink === sinkName && v.index === index);
    // The alias already on this index with no record of it: an earlier attempt died between setAlias and the record
    // (promotion and rollback write their own records), so the record it missed is written now.
    if (!known) {
      await record(
        deps,
        alias,
        sinkName,
        index,
        current === index ? { state: IndexState.current, promotedAt: now() } : { state: IndexState.building },
      );
    }
  }
}

/** Counts the new version against the ledger; a count mismatch is retryable (a sink's count may lag its writes). */
export async function checkIndexVersion(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; force?: boolean },
): Promise<VersionCheck> {
  const { pipeline } = input;
  const sink = sinkFor(deps, input.sink);
  const alias = indexAlias(pipeline);
  const index = indexName(pipeline);
  const current = await sink.getAlias(alias);
  // Completeness is judged against the version readers see now: its live documents must all exist in this one.
  const liveVersion = current === undefined ? undefined : versionOfIndex(pipeline, current);
  const live = liveVersion === undefined || liveVersion === pipeline.version ? deps.ledger : deps.ledger.forVersion(liveVersion);
  const [count, totals, own, liveCounts] = await Promise.all([
    sink.count(index, { tenant: pipeline.tenant }),
    deps.ledger.totals(pipelineStamp(pipeline), pipeline.tenant),
    deps.ledger.counts(pipeline.tenant),
    live.counts(pipeline.tenant),
  ]);
  const check: VersionCheck = {
    sink: input.sink,
    alias,
    index,
    current,
    count,
    expected: totals.chunks,
    documents: totals.documents,
    liveDocuments: Math.max(liveCounts.ingested + liveCounts.unchanged, own.ingested + own.unchanged),
    failedDocuments: own.failed,
  };
  if (input.force) return check;
  if (totals.documents === 0) {
    throw new ConnectorError(FailureType.InvalidInput, `${index} has no ingested documents yet: run the pipeline first`);
  }
  if (check.documents < check.liveDocuments) {
    throw new ConnectorError(
      FailureType.InvalidInput,
      `${index} is not complete: ${check.liveDocuments - check.documents} of ${check.liveDocuments} live documents are ` +
        `still at an older pipeline version (run the pipeline over every source, or promote with --force)`,
    );
  }
  if (count !== totals.chunks) {
    throw new ConnectorError(
      FailureType.Unavailable,
      `${input.sink} holds ${count} chunks in ${index}, the ledger expects ${totals.chunks}`,
    );
  }
  return check;
}

/** The version number of `index` when it is an index of this pipeline (`{name}-v{N}`). */
export function versionOfIndex(pipeline: PipelineRef, index: string): number | undefined {
  const prefix = `${indexAlias(pipeline)}-v`;
  if (!index.startsWith(prefix)) return undefined;
  const n = Number(index.slice(prefix.length));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Points the alias at this version; the version it replaces becomes `retiring` until `retireAfter`. Idempotent. */
export async function switchIndexAlias(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; chunks: number; retireAfter: string },
): Promise<{ previous?: string }> {
  const sink = sinkFor(deps, input.sink);
  const alias = indexAlias(input.pipeline);
  const index = indexName(input.pipeline);
  const before = await sink.getAlias(alias);
  const history = await deps.ledger.listIndexVersions(alias);
  // A retry after the switch landed: the version it replaced is the one the ledger marked retiring for this switch.
  const previous =
    before !== index
      ? before
      : history.find((v) => v.sink === input.sink && v.state === IndexState.retiring && v.index !== index)?.index;
  if (before !== index) await sink.setAlias(alias, index);
  await record(deps, alias, input.sink, index, { state: IndexState.current, chunks: input.chunks, promotedAt: now() });
  if (previous !== undefined && previous !== index) {
    await record(deps, alias, input.sink, previous, { state: IndexState.retiring, retireAfter: input.retireAfter });
  }
  return previous === undefined ? {} : { previous };
}

/** Points the alias back at `to`, if it still points at this version (a later promotion is not undone). */
export async function rollbackIndexAlias(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; to: string },
): Promise<{ rolledBack: boolean }> {
  const sink = sinkFor(deps, input.sink);
  const alias = indexAlias(input.pipeline);
  const index = indexName(input.pipeline);
  const current = await sink.getAlias(alias);
  if (current !== index && current !== input.to) return { rolledBack: false };
  if (current !== input.to) await sink.setAlias(alias, input.to);
  await record(deps, alias, input.sink, input.to, { state: IndexState.current, retireAfter: null, promotedAt: now() });
  await record(deps, alias, input.sink, index, { state: IndexState.building, promotedAt: null });
  return { rolledBack: true };
}

/** Drops a retired version, unless the alias points at it again (then it is kept and marked current). */
export async function retireIndexVersion(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; index: string },
): Promise<{ dropped: boolean }> {
  const sink = sinkFor(deps, input.sink);
  const alias = indexAlias(input.pipeline);
  if ((await sink.getAlias(alias)) === input.index) {
    await record(deps, alias, input.sink, input.index, { state: IndexState.current, retireAfter: null });
    return { dropped: false };
  }
  await sink.dropIndex(input.index);
  await record(deps, alias, input.sink, input.index, { state: IndexState.retired });
  return { dropped: true };
}
