import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PromoteFailureType } from '../../workflows/promote-failures.ts';
import { promoteIndexWorkflow, promoteStateQuery } from '../../workflows/promote.ts';
import { fakeActivities, testPipeline, uniqueName, workerFor, workflowEnv, type Calls } from './support.ts';

// The promote workflow's saga step: when one sink's alias switch fails, the sinks that switched are switched back to
// the index they served before, and the promotion fails with a typed error naming both.

describe('promote workflow: compensation of a failed switch', () => {
  let env: TestWorkflowEnvironment;
  before(async () => (env = await workflowEnv()));
  after(() => env?.teardown());

  it('switches back the sinks that moved, tries the failed one too, and fails with PromotionSwitchFailed', async () => {
    const calls: Calls = [];
    const taskQueue = uniqueName('promote-saga');
    const pipeline = testPipeline(taskQueue, ['alpha', 'beta', 'gamma']);
    const worker = await workerFor(
      env,
      taskQueue,
      fakeActivities(calls, {
        checkIndexVersion: async (input: { sink: string }) => ({
          sink: input.sink,
          count: 3,
          index: 'new-v2',
          current: 'old-v1',
        }),
        switchIndexAlias: async (input: { sink: string }) => {
          if (input.sink === 'beta') throw ApplicationFailure.nonRetryable('beta refused the alias write', 'SinkRejected');
          return { previous: 'old-v1' };
        },
      }),
    );
    const handle = await env.client.workflow.start(promoteIndexWorkflow, {
      taskQueue,
      workflowId: uniqueName('promote-saga-wf'),
      args: [{ pipeline, retireAfterMs: 60_000 }],
      workflowExecutionTimeout: '60 seconds',
    });
    await worker.runUntil(async () => {
      await assert.rejects(handle.result(), (e: unknown) => {
        assert.ok(e instanceof WorkflowFailedError);
        const f = e.cause;
        assert.ok(f instanceof ApplicationFailure);
        assert.equal(f.type, PromoteFailureType.SwitchFailed);
        assert.match(f.message, /beta: beta refused the alias write/);
        assert.match(f.message, /switched back alpha, gamma/);
        return true;
      });
      const state = await handle.query(promoteStateQuery);
      assert.equal(state.phase, 'compensating');
      assert.equal(state.sinks.beta!.switchError, 'beta refused the alias write');
    });
    const rolledBack = calls
      .filter((c) => c.name === 'rollbackIndexAlias')
      .map((c) => c.input as { sink: string; to: string })
      .map(({ sink, to }) => [sink, to])
      .sort();
    assert.deepEqual(rolledBack, [
      ['alpha', 'old-v1'],
      ['beta', 'old-v1'],
      ['gamma', 'old-v1'],
    ]);
    assert.ok(!calls.some((c) => c.name === 'retireIndexVersion'));
  });
});
