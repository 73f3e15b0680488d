import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import type { PipelineRef } from './types.ts';

// Blue/green promotion of one pipeline version: validate the new index in every sink, then switch every sink's alias,
// then keep the replaced versions for a grace period (operators can roll back from the Temporal UI with the
// `rollback` signal, or retire early with `retireNow`), then drop them. Nothing is switched unless every sink
// validated. The grace period is a durable timer: a promotion survives worker restarts.

export interface PromoteInput {
  pipeline: PipelineRef;
  retireAfterMs: number;
  /** Skip the completeness checks (an operator who knows the index is good). */
  force?: boolean;
}

export type PromotePhase = 'validating' | 'switching' | 'grace' | 'retiring' | 'done' | 'rolled-back';

export interface PromoteState {
  phase: PromotePhase;
  /** Per sink: chunks validated, and the version the alias pointed at before. */
  sinks: Record<string, { chunks?: number; previous?: string; dropped?: boolean }>;
  retireAt?: string;
}

export const promoteStateQuery = defineQuery<PromoteState>('state');
export const rollbackSignal = defineSignal('rollback');
export const retireNowSignal = defineSignal('retireNow');

const NON_RETRYABLE = ['InvalidInput', 'SinkRejected', 'NotFound'];

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
  setHandler(rollbackSignal, () => void (rollback = true));
  setHandler(retireNowSignal, () => void (retireNow = true));

  const checks = await Promise.all(pipeline.sinks.map((sink) => acts.checkIndexVersion({ pipeline, sink, force: input.force })));
  for (const c of checks) state.sinks[c.sink] = { chunks: c.count };

  state.phase = 'switching';
  state.retireAt = new Date(Date.now() + input.retireAfterMs).toISOString();
  const switched = await Promise.all(
    checks.map((c) => acts.switchIndexAlias({ pipeline, sink: c.sink, chunks: c.count, retireAfter: state.retireAt! })),
  );
  switched.forEach((s, i) => (state.sinks[checks[i]!.sink]!.previous = s.previous));

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
        previous === undefined ? undefined : acts.rollbackIndexAlias({ pipeline, sink, to: previous }),
      ),
    );
    state.phase = 'rolled-back';
    return state;
  }
  state.phase = 'retiring';
  await Promise.all(
    replaced.map(async ({ sink, previous }) => {
      if (previous === undefined) return;
      const { dropped } = await acts.retireIndexVersion({ pipeline, sink, index: previous });
      state.sinks[sink]!.dropped = dropped;
    }),
  );
  state.phase = 'done';
  return state;
}
