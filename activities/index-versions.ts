import { ApplicationFailure } from '@temporalio/common';
import { IndexState, type IndexVersionRecord } from '../connectors/ledger/ledger.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { killPoint } from '../connectors/shared/kill-points.ts';
import type { Sink } from '../connectors/sinks/sink.ts';
import { indexAlias, indexName } from '../pipeline/spec.ts';
import {
  LOSS_LIST_LIMIT,
  PromoteFailureType,
  type AcceptLosses,
  type PromotionLoss,
  type PromotionLossesDetails,
} from '../workflows/promote-failures.ts';
import { pipelineStamp, type PipelineRef } from '../workflows/types.ts';
import { sinkFor, type PipelineDeps } from './deps.ts';
import { partitionLosses, replayDeletes, scanPromotion, type PromotionScan } from './promotion-safety.ts';

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
  /** Chunks the sink holds in the new index, over every tenant checked. */
  count: number;
  /** Chunks the ledger records for documents at this pipeline version, over every tenant checked. */
  expected: number;
  /** Live documents (ingested or unchanged) at this version, and in the version readers see now (or this one). */
  documents: number;
  liveDocuments: number;
  failedDocuments: number;
  /**
   * Per tenant the switch affects (rows at this version, or live documents in the version readers see now): the
   * sink's chunks in the new index, and the ledger's.
   */
  tenants?: Record<string, TenantCheck>;
  /** Losses the operator accepted (the first LOSS_LIST_LIMIT), and how many. */
  acceptedLosses?: PromotionLoss[];
  acceptedLossCount?: number;
}

export interface TenantCheck {
  count: number;
  expected: number;
  documents: number;
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

/**
 * Validates the new version for one sink before the alias moves. The alias and the later drop of the replaced index
 * are shared by every tenant, so every tenant the switch affects is checked: a document live in the version readers
 * see now that the new version would drop (failed, or not ingested there yet) refuses the promotion (non-retryable,
 * PromotionLossesNotAccepted) unless `acceptLosses` names it; then each tenant's chunk count in the sink must match the
 * ledger's (a mismatch is retryable: a sink's count may lag its writes). `force` skips the counts, not the losses.
 */
export async function checkIndexVersion(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; force?: boolean; acceptLosses?: AcceptLosses },
): Promise<VersionCheck> {
  const { pipeline } = input;
  const sink = sinkFor(deps, input.sink);
  const alias = indexAlias(pipeline);
  const index = indexName(pipeline);
  const stamp = pipelineStamp(pipeline);
  const current = await sink.getAlias(alias);
  // Completeness is judged against the version readers see now: its live documents must all exist in this one.
  const liveVersion = current === undefined ? undefined : versionOfIndex(pipeline, current);
  const live = liveVersion === undefined || liveVersion === pipeline.version ? undefined : deps.ledger.forVersion(liveVersion);
  const [scan, own] = await Promise.all([scanPromotion(deps.ledger, live), deps.ledger.counts()]);
  const { accepted, refused } = partitionLosses(scan.losses, input.acceptLosses);
  if (refused.length > 0) throw lossesFailure(input.sink, index, current!, pipeline.version, scan, refused);

  const tenants: Record<string, TenantCheck> = {};
  for (const tenant of scan.tenants) {
    const [count, totals] = await Promise.all([sink.count(index, { tenant }), deps.ledger.totals(stamp, tenant)]);
    tenants[tenant] = { count, expected: totals.chunks, documents: totals.documents };
  }
  const sum = (f: (t: TenantCheck) => number) => Object.values(tenants).reduce((n, t) => n + f(t), 0);
  const check: VersionCheck = {
    sink: input.sink,
    alias,
    index,
    current,
    count: sum((t) => t.count),
    expected: sum((t) => t.expected),
    documents: sum((t) => t.documents),
    liveDocuments: Math.max(scan.liveDocuments, own.ingested + own.unchanged),
    failedDocuments: own.failed,
    tenants,
    ...(accepted.length > 0 ? { acceptedLosses: accepted.slice(0, LOSS_LIST_LIMIT), acceptedLossCount: accepted.length } : {}),
  };
  if (input.force) return check;
  if (check.documents === 0) {
    throw new ConnectorError(FailureType.InvalidInput, `${index} has no ingested documents yet: run the pipeline first`);
  }
  const off = Object.entries(tenants).filter(([, t]) => t.count !== t.expected);
  if (off.length > 0) {
    throw new ConnectorError(
      FailureType.Unavailable,
      `${input.sink} does not hold what the ledger expects in ${index}: ` +
        off.map(([tenant, t]) => `tenant ${tenant} has ${t.count} chunks, the ledger expects ${t.expected}`).join('; '),
    );
  }
  return check;
}

function lossesFailure(
  sink: string,
  index: string,
  current: string,
  version: number,
  scan: PromotionScan,
  refused: PromotionLoss[],
): ApplicationFailure {
  const missing = refused.filter((l) => l.reason === 'missing').length;
  const listed = refused.slice(0, LOSS_LIST_LIMIT);
  const more = refused.length > listed.length ? ` and ${refused.length - listed.length} more` : '';
  const details: PromotionLossesDetails = { sink, index, current, losses: listed, total: refused.length };
  return ApplicationFailure.create({
    type: PromoteFailureType.LossesNotAccepted,
    nonRetryable: true,
    message:
      `promoting ${index} in ${sink} would remove ${refused.length} documents readers see now in ${current}: ` +
      `${missing} of ${scan.liveDocuments} live documents are still at an older pipeline version, ` +
      `${refused.length - missing} failed or are not finished at version ${version} ` +
      `(run the pipeline over every source, or accept the losses by name): ` +
      listed.map((l) => `${l.tenant} ${l.sourceUri} (${l.error ?? l.reason})`).join(', ') +
      more,
    details: [details],
  });
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
  // A retry after the switch landed: the version it replaced is the one the ledger marked retiring for this switch, or,
  // when the worker died between the switch and the ledger, the one the ledger still records as current.
  const other = (state: IndexState) =>
    history.find((v) => v.sink === input.sink && v.state === state && v.index !== index)?.index;
  const previous = before !== index ? before : (other(IndexState.retiring) ?? other(IndexState.current));
  if (before !== index) {
    await sink.setAlias(alias, index);
    killPoint('promote.after-alias-switch');
  }
  await record(deps, alias, input.sink, index, { state: IndexState.current, chunks: input.chunks, promotedAt: now() });
  if (previous !== undefined && previous !== index) {
    await record(deps, alias, input.sink, previous, { state: IndexState.retiring, retireAfter: input.retireAfter });
  }
  return previous === undefined ? {} : { previous };
}

/**
 * Points the alias back at `to`, if it still points at this version (a later promotion is not undone). Deletes the new
 * version recorded while readers saw it are replayed onto `to` first, and once more after the switch (a delete that
 * landed in between cleared only the new index), so a document deleted during the grace period stays gone.
 */
export async function rollbackIndexAlias(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; to: string },
): Promise<{ rolledBack: boolean; replayedDeletes?: number }> {
  const sink = sinkFor(deps, input.sink);
  const alias = indexAlias(input.pipeline);
  const index = indexName(input.pipeline);
  const current = await sink.getAlias(alias);
  if (current !== index && current !== input.to) return { rolledBack: false };
  const toVersion = versionOfIndex(input.pipeline, input.to);
  const replay = async (): Promise<number> => {
    if (toVersion === undefined || toVersion === input.pipeline.version) return 0;
    const promotedAt =
      (await deps.ledger.listIndexVersions(alias)).find((v) => v.sink === input.sink && v.index === index)?.promotedAt ?? null;
    const { replayed } = await replayDeletes({
      sink,
      sinkNames: input.pipeline.sinks,
      next: deps.ledger,
      previous: deps.ledger.forVersion(toVersion),
      to: input.to,
      promotedAt,
    });
    return replayed;
  };
  let replayedDeletes = await replay();
  if (current !== input.to) await sink.setAlias(alias, input.to);
  replayedDeletes += await replay();
  await record(deps, alias, input.sink, input.to, { state: IndexState.current, retireAfter: null, promotedAt: now() });
  await record(deps, alias, input.sink, index, { state: IndexState.building, promotedAt: null });
  return { rolledBack: true, replayedDeletes };
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
