import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { docStatusKey } from '../../workflows/search-attributes.ts';
import { docEventSignal, documentWorkflow } from '../../workflows/document.ts';
import type { DocEvent, DocOutcome } from '../../workflows/types.ts';
import { corrupt, fakeActivities, names, testPipeline, uniqueName, workerFor, workflowEnv, type Calls } from './support.ts';

describe('document workflow', () => {
  let env: TestWorkflowEnvironment;
  before(async () => (env = await workflowEnv()));
  after(() => env?.teardown());

  async function run(
    calls: Calls,
    overrides: Parameters<typeof fakeActivities>[1],
    events: DocEvent[] = [{ kind: 'upsert' }],
    sinks?: string[],
  ) {
    const taskQueue = uniqueName('doc');
    const pipeline = testPipeline(taskQueue, sinks);
    const worker = await workerFor(env, taskQueue, fakeActivities(calls, overrides));
    const workflowId = uniqueName('doc-wf');
    const outcome = await worker.runUntil(
      env.client.workflow.execute(documentWorkflow, {
        taskQueue,
        workflowId,
        args: [{ pipeline, sourceUri: 's3://b/doc.txt', pending: events }],
        workflowExecutionTimeout: '60 seconds',
      }),
    );
    return { outcome, workflowId, pipeline };
  }

  it('parses and chunks, embeds once, upserts to every sink and commits (which cleans up)', async () => {
    const calls: Calls = [];
    const { outcome } = await run(calls, {});
    assert.deepEqual(outcome, { status: 'ingested', chunks: 3, upserted: { alpha: 3, beta: 3 }, cached: 0 } satisfies DocOutcome);
    const seq = names(calls);
    assert.deepEqual(seq.slice(0, 2), ['fetchAndParse', 'embedChunks']);
    assert.deepEqual(seq.slice(2, 4).sort(), ['upsertToSink', 'upsertToSink']);
    assert.deepEqual(seq.slice(4), ['commitDocument']);
    const sinks = calls.filter((c) => c.name === 'upsertToSink').map((c) => (c.input as { sink: string }).sink);
    assert.deepEqual(sinks.sort(), ['alpha', 'beta']);
  });

  it('stops after the fetch when the document is unchanged', async () => {
    const calls: Calls = [];
    const { outcome } = await run(calls, { fetchAndParse: async () => ({ kind: 'unchanged', chunks: 7 }) });
    assert.equal(outcome.status, 'unchanged');
    assert.deepEqual(names(calls), ['fetchAndParse']);
  });

  it('records bad input as a failed document with its type, and marks the run failed for the UI', async () => {
    const calls: Calls = [];
    const { outcome, workflowId } = await run(calls, {
      fetchAndParse: async () => {
        throw corrupt();
      },
    });
    assert.equal(outcome.status, 'failed');
    assert.deepEqual(outcome.error, {
      type: 'CorruptDocument',
      message: 'report.pdf is not a valid PDF (Invalid PDF structure)',
    });
    assert.deepEqual(names(calls), ['fetchAndParse', 'recordFailure']);
    assert.deepEqual((calls[1]!.input as { error: unknown }).error, outcome.error);
    const desc = await env.client.workflow.getHandle(workflowId).describe();
    assert.equal(desc.typedSearchAttributes.get(docStatusKey), 'failed');
  });

  it('keeps the healthy sink when another rejects the batch, without embedding twice', async () => {
    const calls: Calls = [];
    const { outcome } = await run(calls, {
      upsertToSink: async (input: { sink: string }) => {
        if (input.sink === 'beta') throw ApplicationFailure.nonRetryable('dimension mismatch', 'SinkRejected');
        return { upserted: 3, staleDeleted: 0 };
      },
    });
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.upserted.alpha, 3);
    assert.match(outcome.error!.message, /beta: dimension mismatch/);
    assert.equal(names(calls).filter((n) => n === 'embedChunks').length, 1);
    const commit = calls.find((c) => c.name === 'commitDocument')!.input as { sinks: Record<string, { ok: boolean }> };
    assert.deepEqual(Object.fromEntries(Object.entries(commit.sinks).map(([k, v]) => [k, v.ok])), { alpha: true, beta: false });
  });

  it('collapses events that arrive while one is applied into one more pass', async () => {
    const calls: Calls = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let fetches = 0;
    const taskQueue = uniqueName('doc');
    const pipeline = testPipeline(taskQueue, ['alpha']);
    const worker = await workerFor(
      env,
      taskQueue,
      fakeActivities(calls, {
        fetchAndParse: async () => {
          if (++fetches === 1) await gate;
          return { kind: 'unchanged', chunks: 1 };
        },
      }),
    );
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(documentWorkflow, {
        taskQueue,
        workflowId: uniqueName('doc-wf'),
        args: [{ pipeline, sourceUri: 's3://b/busy.txt', pending: [{ kind: 'upsert' }] }],
        workflowExecutionTimeout: '60 seconds',
      });
      while (fetches === 0) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 5; i++) await handle.signal(docEventSignal, { kind: 'upsert', sourceVersion: String(i) });
      release();
      await handle.result();
    });
    assert.equal(fetches, 2, 'one pass for the first event, one for the five that queued behind it');
  });

  it('applies a delete only when the source no longer has the document, unless forced', async () => {
    const stillThere: Calls = [];
    const r1 = await run(
      stillThere,
      { sourceHas: async () => true, fetchAndParse: async () => ({ kind: 'unchanged', chunks: 2 }) },
      [{ kind: 'delete' }],
    );
    assert.equal(r1.outcome.status, 'unchanged');
    assert.deepEqual(names(stillThere), ['sourceHas', 'fetchAndParse']);

    const forced: Calls = [];
    const r2 = await run(forced, { sourceHas: async () => true }, [{ kind: 'delete', force: true }]);
    assert.equal(r2.outcome.status, 'deleted');
    assert.deepEqual(names(forced).sort(), ['deleteFromSink', 'deleteFromSink', 'recordDeleted']);
  });
});
