import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { promoteIndexWorkflow, promoteStateQuery, rollbackSignal, type PromoteState } from '../../workflows/promote.ts';
import { fakeActivities, names, testPipeline, uniqueName, workerFor, workflowEnv, type Calls } from './support.ts';

describe('promote workflow (blue/green index versions)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => (env = await workflowEnv()));
  after(() => env?.teardown());

  async function start(calls: Calls, overrides: Parameters<typeof fakeActivities>[1], retireAfterMs: number) {
    const taskQueue = uniqueName('promote');
    const pipeline = testPipeline(taskQueue, ['alpha', 'beta']);
    const worker = await workerFor(env, taskQueue, fakeActivities(calls, overrides));
    const handle = await env.client.workflow.start(promoteIndexWorkflow, {
      taskQueue,
      workflowId: uniqueName('promote-wf'),
      args: [{ pipeline, retireAfterMs }],
      workflowExecutionTimeout: '60 seconds',
    });
    return { worker, handle };
  }

  it('validates every sink, switches every alias, waits out the grace period, then drops the replaced versions', async () => {
    const calls: Calls = [];
    const { worker, handle } = await start(calls, {}, 1500);
    const result = await worker.runUntil(handle.result());
    assert.equal(result.phase, 'done');
    assert.deepEqual(result.sinks, {
      alpha: { chunks: 3, previous: 'old-v1', dropped: true },
      beta: { chunks: 3, previous: 'old-v1', dropped: true },
    });
    const seq = names(calls);
    assert.deepEqual(seq.slice(0, 2), ['checkIndexVersion', 'checkIndexVersion']);
    assert.deepEqual(seq.slice(2, 4), ['switchIndexAlias', 'switchIndexAlias']);
    assert.deepEqual(seq.slice(4), ['retireIndexVersion', 'retireIndexVersion']);
    const retired = calls.filter((c) => c.name === 'retireIndexVersion').map((c) => (c.input as { index: string }).index);
    assert.deepEqual(retired, ['old-v1', 'old-v1']);
  });

  it('switches nothing when one sink fails validation', async () => {
    const calls: Calls = [];
    const { worker, handle } = await start(
      calls,
      {
        checkIndexVersion: async (input: { sink: string }) => {
          if (input.sink === 'beta') throw ApplicationFailure.nonRetryable('beta-v2 is not complete', 'InvalidInput');
          return { sink: input.sink, count: 3 };
        },
      },
      1000,
    );
    await worker.runUntil(assert.rejects(handle.result(), WorkflowFailedError));
    assert.ok(!names(calls).includes('switchIndexAlias'), names(calls).join());
  });

  it('a rollback signal during the grace period points the aliases back and drops nothing', async () => {
    const calls: Calls = [];
    const { worker, handle } = await start(calls, {}, 60_000);
    const result = await worker.runUntil(async () => {
      let state: PromoteState;
      do state = await handle.query(promoteStateQuery);
      while (state.phase !== 'grace' && (await new Promise((r) => setTimeout(r, 100, true))));
      await handle.signal(rollbackSignal);
      return handle.result();
    });
    assert.equal(result.phase, 'rolled-back');
    const rolledBack = calls.filter((c) => c.name === 'rollbackIndexAlias').map((c) => c.input as { sink: string; to: string });
    assert.deepEqual(
      rolledBack.map(({ sink, to }) => ({ sink, to })).sort((x, y) => x.sink.localeCompare(y.sink)),
      [
        { sink: 'alpha', to: 'old-v1' },
        { sink: 'beta', to: 'old-v1' },
      ],
    );
    assert.ok(!names(calls).includes('retireIndexVersion'));
  });

  it('the first version (no alias before) is done at once, with no grace period', async () => {
    const calls: Calls = [];
    const { worker, handle } = await start(calls, { switchIndexAlias: async () => ({}) }, 600_000);
    const result = await worker.runUntil(handle.result());
    assert.equal(result.phase, 'done');
    assert.ok(!names(calls).includes('retireIndexVersion'));
  });
});
