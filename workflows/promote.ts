import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import type { TenantCheck } from '../activities/index-versions.ts';
import { PromoteFailureType, type AcceptLosses, type PromotionLoss } from './promote-failures.ts';
import { stepSummary } from './summaries.ts';
import type { PipelineRef } from './types.ts';

// Blue/green promotion of one pipeline version: validate the new index in every sink, then switch every sink's alias,
// then keep the replaced versions for a grace period (operators can roll back from the Temporal UI with the
// `rollback` signal, which also replays onto the old index the deletes made while the new one was live, or retire
// early with `retireNow`), then drop them. Nothing is switched unless every sink validated. Validation covers every
// tenant of the pipeline (the alias is shared) and refuses to drop documents readers see now unless the operator
// accepted them. If one sink's switch fails, the sinks that already switched are switched back (compensation) before
// the promotion fails. The grace period is a durable timer: a promotion survives worker restarts.

/**
 * Patch ids (Temporal `patched()`): histories recorded before a change replay the old logic.
 * Switch compensation: the switches are awaited together and the moved sinks switched back when one fails.
 */
export const PROMOTE_PATCHES = { compensateSwitch: 'promote-compensate-failed-switch' } as const;

export interface PromoteInput {
  pipeline: PipelineRef;
  retireAfterMs: number;
  /** Skip the completeness checks (an operator who knows the index is good). */
  force?: boolean;
  /** Live documents the new version may drop (by source uri, any tenant), or 'all'. Default: none. */
  acceptLosses?: AcceptLosses;
}

export type PromotePhase =
  | 'validating'
  | 'switching'
  /** One sink's switch failed; the sinks that moved are being switched back. The promotion then fails. */
  | 'compensating'
  | 'grace'
  | 'retiring'
  | 'done'
  | 'rolled-back';

export interface PromoteSinkState {
  /** Chunks validated (over every tenant). */
  chunks?: number;
  /** The version the alias pointed at before. */
  previous?: string;
  dropped?: boolean;
  /** Set when this sink's switch failed (the promotion was then compensated). */
  switchError?: string;
}

/** What validation found in one sink. */
export interface PromoteValidation {
  /** Per tenant the switch affects: the sink's chunks in the new index, and the ledger's. */
  tenants: Record<string, TenantCheck>;
  /** Losses the operator accepted (the first 20), and how many. */
  acceptedLosses?: PromotionLoss[];
  acceptedLossCount?: number;
}

export interface PromoteState {
  phase: PromotePhase;
  sinks: Record<string, PromoteSinkState>;
  /** Per sink, once validated. */
  validation?: Record<string, PromoteValidation>;
  retireAt?: string;
}

export const promoteStateQuery = defineQuery<PromoteState>('state');
export const rollbackSignal = defineSignal('rollback');
export const retireNowSignal = defineSignal('retireNow');

const NON_RETRYABLE = ['InvalidInput', 'SinkRejected', 'NotFound', PromoteFailureType.LossesNotAccepted];

export async function promoteIndexWorkflow(input: PromoteInput): Promise<PromoteState> {
  const { pipeline } = input;
  // A count that does not match yet is retried for about a minute (sinks that index lazily), then the promotion fails.
  const acts = proxyActivities<IngestActivities>({
    taskQueue: pipeline.ingestQueue,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '30 seconds',
    retry: {
      initialInterval: '2 seconds',
      maximumInterval: '20 seconds',
      maximumAttempts: 6,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
  const state: PromoteState = { phase: 'validating', sinks: {} };
  let rollback = false;
  let retireNow = false;
  setHandler(promoteStateQuery, () => state);
  const about = (text: string) => ({ summary: stepSummary(text) });
  setHandler(rollbackSignal, () => void (rollback = true));
  setHandler(retireNowSignal, () => void (retireNow = true));

  /**
   * Saga compensation for a failed switch: every sink is pointed back at the index it served before validation (a
   * sink whose switch failed may still have moved before failing); the rollback activity leaves a sink alone if its
   * alias has moved on since. Then the promotion fails with every sink's outcome in the message.
   */
  async function compensate(
    checks: Array<{ sink: string; current?: string; index?: string }>,
    outcomes: Array<PromiseSettledResult<{ previous?: string }>>,
  ): Promise<never> {
    state.phase = 'compensating';
    const failed: string[] = [];
    outcomes.forEach((o, i) => {
      if (o.status !== 'rejected') return;
      const sink = checks[i]!.sink;
      state.sinks[sink]!.switchError = errorText(o.reason);
      failed.push(`${sink}: ${state.sinks[sink]!.switchError}`);
    });
    const restored = await Promise.allSettled(
      checks.map((c, i) => {
        const o = outcomes[i]!;
        const to = (o.status === 'fulfilled' ? o.value.previous : undefined) ?? c.current;
        return to === undefined || to === c.index
          ? Promise.resolve(undefined)
          : acts.rollbackIndexAlias.executeWithOptions(about(`switch the alias back to ${to} in ${c.sink}`), [
              { pipeline, sink: c.sink, to },
            ]);
      }),
    );
    const back = checks.filter((_, i) => outcomes[i]!.status === 'fulfilled' && restored[i]!.status === 'fulfilled');
    const stuck = restored.flatMap((r, i) => (r.status === 'rejected' ? [`${checks[i]!.sink}: ${errorText(r.reason)}`] : []));
    throw ApplicationFailure.nonRetryable(
      `promotion of ${pipeline.name} v${pipeline.version} failed while switching the alias (${failed.join('; ')}); ` +
        (back.length > 0 ? `switched back ${back.map((c) => c.sink).join(', ')}` : 'no sink was switched back') +
        (stuck.length > 0 ? `; could not switch back ${stuck.join('; ')}` : ''),
      PromoteFailureType.SwitchFailed,
    );
  }

  const checks = await Promise.all(
    pipeline.sinks.map((sink) =>
      acts.checkIndexVersion.executeWithOptions(about(`check version ${pipeline.version}'s index in ${sink}`), [
        {
          pipeline,
          sink,
          force: input.force,
          ...(input.acceptLosses === undefined ? {} : { acceptLosses: input.acceptLosses }),
        },
      ]),
    ),
  );
  for (const c of checks) {
    state.sinks[c.sink] = { chunks: c.count };
    // Results recorded before validation covered every tenant carry no per-tenant report.
    if (c.tenants === undefined) continue;
    const v: PromoteValidation = { tenants: c.tenants };
    if (c.acceptedLossCount !== undefined) {
      v.acceptedLosses = c.acceptedLosses ?? [];
      v.acceptedLossCount = c.acceptedLossCount;
    }
    (state.validation ??= {})[c.sink] = v;
  }

  state.phase = 'switching';
  state.retireAt = new Date(Date.now() + input.retireAfterMs).toISOString();
  const switchOne = (c: (typeof checks)[number]) =>
    acts.switchIndexAlias.executeWithOptions(about(`switch the alias to version ${pipeline.version} in ${c.sink}`), [
      { pipeline, sink: c.sink, chunks: c.count, retireAfter: state.retireAt! },
    ]);
  if (patched(PROMOTE_PATCHES.compensateSwitch)) {
    const outcomes = await Promise.allSettled(checks.map(switchOne));
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') state.sinks[checks[i]!.sink]!.previous = o.value.previous;
    });
    if (outcomes.some((o) => o.status === 'rejected')) await compensate(checks, outcomes);
  } else {
    const switched = await Promise.all(checks.map(switchOne));
    switched.forEach((s, i) => (state.sinks[checks[i]!.sink]!.previous = s.previous));
  }

  const replaced = checks.map((c) => ({ sink: c.sink, previous: state.sinks[c.sink]!.previous }));
  if (replaced.every((r) => r.previous === undefined)) {
    // The first version of the pipeline: nothing to keep or retire.
    state.phase = 'done';
    return state;
  }
  state.phase = 'grace';
  await condition(() => rollback || retireNow, input.retireAfterMs);

  if (rollback) {
    await Promise.all(
      replaced.map(({ sink, previous }) =>
        previous === undefined
          ? undefined
          : acts.rollbackIndexAlias.executeWithOptions(about(`roll the alias back to ${previous} in ${sink}`), [
              { pipeline, sink, to: previous },
            ]),
      ),
    );
    state.phase = 'rolled-back';
    return state;
  }
  state.phase = 'retiring';
  await Promise.all(
    replaced.map(async ({ sink, previous }) => {
      if (previous === undefined) return;
      const { dropped } = await acts.retireIndexVersion.executeWithOptions(about(`retire ${previous} in ${sink}`), [
        { pipeline, sink, index: previous },
      ]);
      state.sinks[sink]!.dropped = dropped;
    }),
  );
  state.phase = 'done';
  return state;
}

/** The innermost message of a failure chain (an ActivityFailure wraps the activity's ApplicationFailure). */
function errorText(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
