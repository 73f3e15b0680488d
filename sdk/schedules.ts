import { createHash } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleOverlapPolicy,
  type ScheduleUpdateOptions,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { pipelineRef } from '../pipeline/ref.ts';
import { formatInterval, parseInterval, type ScheduleConfig } from '../pipeline/schedule-config.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { pipelineKey, sourceUriKey, tenantKey } from '../workflows/search-attributes.ts';
import type { DocIdentity } from '../workflows/types.ts';
import { reconcileRunOptions, sourceRunOptions } from './source-run.ts';

/** Part of every fingerprint: bump it when what a declaration compiles to changes, so the next apply rewrites all. */
const COMPILE_VERSION = 1;

/** A schedule operation that cannot be done as asked (local: it never crosses a workflow boundary). */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

/** No schedule of that name for this pipeline version and tenant. */
export class UnknownScheduleError extends ScheduleError {
  override name = 'UnknownScheduleError';
}

/**
 * `schedule:{pipeline}-v{version}:{tenant}:{name}`. Every part is bounded by the spec's patterns (40, 64 and 63
 * characters), so unlike a uri it never needs hashing to stay under Temporal's 1,000-byte ids.
 */
export function scheduleId(id: DocIdentity, name: string): string {
  return `schedule:${id.name}-v${id.version}:${id.tenant}:${name}`;
}

/** What `apply` did, by schedule name. */
export interface ApplyResult {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: string[];
}

/** A schedule of this pipeline version and tenant, as Temporal holds it now. */
export interface ScheduleState {
  name: string;
  scheduleId: string;
  kind?: string;
  source?: string;
  /** Intervals as Temporal holds them (`12h`); with a cron, the cron that was applied. */
  every?: string[];
  cron?: string;
  overlap: string;
  catchupWindow: string;
  jitter: string;
  paused: boolean;
  note?: string;
  /** The spec in hand declares this name (an undeclared one goes at the next apply). */
  declared: boolean;
  /** What the spec declares is what was applied. */
  upToDate: boolean;
  nextRuns: string[];
  recentRuns: Array<{ scheduledAt: string; takenAt: string; workflowId: string }>;
  /** Workflow ids of the source runs this schedule started that still run. */
  running: string[];
  actionsTaken: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
}

/** A declaration as the Temporal Schedule it becomes, with the fingerprint `apply` compares. */
export interface CompiledSchedule {
  config: ScheduleConfig;
  scheduleId: string;
  fingerprint: string;
  options: ScheduleOptions<ScheduleOptionsStartWorkflowAction<Workflow>>;
}

/** What the schedule's action memo records of the declaration it was applied from (the memo `update` rewrites). */
interface Applied {
  name: string;
  fingerprint: string;
  declared: ScheduleConfig;
}

const OVERLAP = { skip: 'SKIP', 'buffer-one': 'BUFFER_ONE' } as const satisfies Record<string, ScheduleOverlapPolicy>;

/**
 * The Temporal Schedule a declaration becomes: its action starts the same workflow as `startIngest` (a `reindex`) or
 * `reconcile` (a `reconcile`, limited to the documents under its source), with the same input, search attributes and
 * memo, plus `scheduled` and the declaration's fingerprint in the run's memo.
 */
export function compileSchedule(spec: PipelineSpec, config: ScheduleConfig): CompiledSchedule {
  const ref = pipelineRef(spec);
  const run =
    config.kind === 'reconcile'
      ? reconcileRunOptions(spec, { sourcePrefix: config.source })
      : sourceRunOptions(spec, config.source);
  const body = {
    scheduleId: scheduleId(ref, config.name),
    spec: {
      ...(config.every ? { intervals: [{ every: parseInterval(config.every)! }] } : { cronExpressions: [config.cron!] }),
      jitter: parseInterval(config.jitter)!,
    },
    action: {
      type: 'startWorkflow' as const,
      workflowType: run.workflowType,
      taskQueue: run.taskQueue,
      workflowId: run.workflowId,
      args: run.args,
      typedSearchAttributes: run.typedSearchAttributes,
      staticSummary: run.staticSummary,
      staticDetails: run.staticDetails,
    },
    policies: { overlap: OVERLAP[config.overlap], catchupWindow: parseInterval(config.catchupWindow)!, pauseOnFailure: false },
    typedSearchAttributes: [
      { key: tenantKey, value: ref.tenant },
      { key: pipelineKey, value: `${ref.name}-v${ref.version}` },
      { key: sourceUriKey, value: config.source },
    ],
  };
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ v: COMPILE_VERSION, config, body, runMemo: run.memo }))
    .digest('hex')
    .slice(0, 16);
  const applied: Applied = { name: config.name, fingerprint, declared: config };
  return {
    config,
    scheduleId: body.scheduleId,
    fingerprint,
    options: {
      ...body,
      action: { ...body.action, memo: { ...run.memo, scheduled: true, schedule: applied } },
      // Identity only: Temporal keeps a schedule's own memo as created (an update cannot change it).
      memo: { ragline: 'schedule', pipeline: ref.name, pipelineVersion: ref.version, tenant: ref.tenant, schedule: config.name },
      state: { paused: config.paused, note: config.paused ? 'paused by the pipeline spec' : undefined },
    },
  };
}

function appliedOf(d: Pick<ScheduleDescription, 'action'>): Applied | undefined {
  const s = d.action.memo?.schedule as Applied | undefined;
  return typeof s?.fingerprint === 'string' ? s : undefined;
}

/**
 * The schedules of one pipeline version and tenant: apply the spec's declarations, and list, describe, pause,
 * unpause, trigger, backfill or delete them by name. Other versions' and tenants' schedules are never touched.
 */
export class PipelineSchedules {
  private readonly client: Client;
  private readonly spec: PipelineSpec;

  constructor(client: Client, spec: PipelineSpec) {
    this.client = client;
    this.spec = spec;
  }

  /**
   * Makes Temporal hold exactly the declared schedules: creates missing ones, updates those whose declaration (or
   * the run it starts) changed, deletes undeclared ones. Idempotent. A pause or unpause by an operator outlives
   * re-applies; only a change of the spec's own `paused` overrides it. Refuses the whole spec, before any change, if it
   * declares a kind this release cannot run.
   */
  async apply(): Promise<ApplyResult> {
    const result: ApplyResult = { created: [], updated: [], deleted: [], unchanged: [] };
    const declared = (this.spec.schedules ?? []).map((c) => compileSchedule(this.spec, c));
    for (const s of declared) {
      const handle = this.client.schedule.getHandle(s.scheduleId);
      let current = await describeOrUndefined(handle);
      if (!current) {
        try {
          await refused(s.config.name, () => this.client.schedule.create(s.options));
          result.created.push(s.config.name);
          continue;
        } catch (err) {
          if (!(err instanceof ScheduleAlreadyRunning)) throw err;
          current = await handle.describe(); // another apply created it meanwhile: compare with that one
        }
      }
      if (appliedOf(current)?.fingerprint === s.fingerprint) {
        result.unchanged.push(s.config.name);
        continue;
      }
      await refused(s.config.name, () => handle.update((prev) => updateOptions(s, prev)));
      result.updated.push(s.config.name);
    }
    const names = new Set(declared.map((s) => s.config.name));
    for (const { name, scheduleId } of await this.ids()) {
      if (names.has(name)) continue;
      try {
        await this.client.schedule.getHandle(scheduleId).delete();
        result.deleted.push(name);
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err; // already gone: the listing lags a deletion
      }
    }
    for (const list of Object.values(result)) list.sort();
    return result;
  }

  /** Every schedule of this pipeline version and tenant, declared or not, sorted by name. */
  async list(): Promise<ScheduleState[]> {
    const out: ScheduleState[] = [];
    for (const { name } of await this.ids()) {
      const d = await describeOrUndefined(this.handle(name));
      if (d) out.push(this.state(name, d));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async describe(name: string): Promise<ScheduleState> {
    return this.state(name, await this.existing(name, (h) => h.describe()));
  }

  async pause(name: string, note = 'paused by ingest schedule pause'): Promise<void> {
    await this.existing(name, (h) => h.pause(note));
  }

  async unpause(name: string, note = 'unpaused by ingest schedule unpause'): Promise<void> {
    await this.existing(name, (h) => h.unpause(note));
  }

  /**
   * Starts a source run now, under the schedule's own overlap policy (Temporal's default for a trigger would allow
   * overlaps): with `skip`, nothing starts while one of its runs is still going. Works while paused.
   */
  async trigger(name: string): Promise<void> {
    await this.existing(name, async (h) => h.trigger((await h.describe()).policies.overlap));
  }

  /**
   * Takes the actions of every scheduled time in [from, to] now, under the schedule's overlap policy: with `skip`,
   * one run starts and the times that come while it runs are skipped; with `buffer-one`, one more follows it.
   */
  async backfill(name: string, from: Date, to: Date): Promise<void> {
    if (!(from.getTime() < to.getTime())) throw new ScheduleError(`backfill: from (${from.toISOString()}) must be before to`);
    await this.existing(name, async (h) => h.backfill({ start: from, end: to, overlap: (await h.describe()).policies.overlap }));
  }

  /** Deletes the schedule (runs it started go on). The next apply recreates it if the spec still declares it. */
  async delete(name: string): Promise<void> {
    await this.existing(name, (h) => h.delete());
  }

  private handle(name: string): ScheduleHandle {
    return this.client.schedule.getHandle(scheduleId(pipelineRef(this.spec), name));
  }

  private async existing<T>(name: string, fn: (h: ScheduleHandle) => Promise<T>): Promise<T> {
    try {
      return await fn(this.handle(name));
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
      const { name: pipeline, version, tenant } = this.spec;
      throw new UnknownScheduleError(
        `no schedule ${name} for pipeline ${pipeline} v${version}, tenant ${tenant} (ingest schedule list shows them)`,
        { cause: err },
      );
    }
  }

  /**
   * This pipeline version's and tenant's schedules, found by their search attributes and confirmed by their memo.
   * The listing is eventually consistent: a schedule created a moment ago may be missing for a moment.
   */
  private async ids(): Promise<Array<{ name: string; scheduleId: string }>> {
    const ref = pipelineRef(this.spec);
    const query = `${pipelineKey.name} = "${ref.name}-v${ref.version}" AND ${tenantKey.name} = "${ref.tenant}"`;
    const out: Array<{ name: string; scheduleId: string }> = [];
    for await (const s of this.client.schedule.list({ query })) {
      const m = s.memo ?? {};
      const ours = m.ragline === 'schedule' && m.pipeline === ref.name && m.pipelineVersion === ref.version;
      if (ours && m.tenant === ref.tenant && typeof m.schedule === 'string' && s.scheduleId === scheduleId(ref, m.schedule))
        out.push({ name: m.schedule, scheduleId: s.scheduleId });
    }
    return out;
  }

  private state(name: string, d: ScheduleDescription): ScheduleState {
    const applied = appliedOf(d);
    const config = this.spec.schedules?.find((s) => s.name === name);
    const declared = config ? compileSchedule(this.spec, config) : undefined;
    return {
      name,
      scheduleId: d.scheduleId,
      kind: applied?.declared.kind,
      source: applied?.declared.source,
      ...(d.spec.intervals?.length ? { every: d.spec.intervals.map((i) => formatInterval(i.every)) } : {}),
      ...(applied?.declared.cron && d.spec.calendars?.length ? { cron: applied.declared.cron } : {}),
      overlap: (d.policies.overlap ?? 'SKIP').toLowerCase().replace(/_/g, '-'),
      catchupWindow: formatInterval(d.policies.catchupWindow),
      jitter: formatInterval(d.spec.jitter ?? 0),
      paused: d.state.paused,
      note: d.state.note || undefined,
      declared: config !== undefined,
      upToDate: declared !== undefined && applied?.fingerprint === declared.fingerprint,
      nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
      recentRuns: d.info.recentActions.map((a) => ({
        scheduledAt: a.scheduledAt.toISOString(),
        takenAt: a.takenAt.toISOString(),
        workflowId: a.action.workflow.workflowId,
      })),
      running: d.info.runningActions.map((a) => a.workflow.workflowId),
      actionsTaken: d.info.numActionsTaken,
      skippedOverlap: d.info.numActionsSkippedOverlap,
      missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    };
  }
}

/** `apply` for one spec: the declared schedules of its version and tenant, and no others. */
export function applySchedules(client: Client, spec: PipelineSpec): Promise<ApplyResult> {
  return new PipelineSchedules(client, spec).apply();
}

/**
 * The full schedule for `update`, which replaces everything but the memo. The pause state: the spec's `paused` when
 * that changed since the last apply, else whatever the schedule has now (an operator's pause stays).
 */
function updateOptions(
  s: CompiledSchedule,
  prev: ScheduleDescription,
): ScheduleUpdateOptions<ScheduleOptionsStartWorkflowAction<Workflow>> {
  const { scheduleId: _id, memo: _memo, state: declaredState, ...rest } = s.options;
  const keep = appliedOf(prev)?.declared.paused === s.config.paused;
  return {
    ...rest,
    state: keep
      ? { paused: prev.state.paused, note: prev.state.note }
      : {
          paused: declaredState?.paused,
          note: s.config.paused ? 'paused by the pipeline spec' : 'unpaused by the pipeline spec',
        },
  };
}

async function describeOrUndefined(handle: ScheduleHandle): Promise<ScheduleDescription | undefined> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Temporal's refusal of a schedule spec (the SDK throws a TypeError: a cron out of range) named by schedule. */
async function refused<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TypeError)
      throw new ScheduleError(`schedule ${name}: Temporal refused it: ${err.message}`, { cause: err });
    throw err;
  }
}
