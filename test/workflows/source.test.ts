import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { pauseSignal, progressQuery, resumeSignal, sourceWorkflow } from '../../workflows/source.ts';
import type { PipelineRef } from '../../workflows/types.ts';
import { fakeActivities, testPipeline, uniqueName, workerFor, workflowEnv, type Calls } from './support.ts';

/** A fake listing of `total` objects served in pages, like ListObjectsV2. */
function listing(total: number) {
  return async (input: { pipeline: PipelineRef; cursor?: string; pageSize: number }) => {
    const start = Number(input.cursor ?? 0);
    const end = Math.min(total, start + input.pageSize);
    const items = Array.from({ length: end - start }, (_, i) => {
      const uri = `s3://b/doc-${start + i}.txt`;
      return { uri, version: 'v1', workflowId: documentWorkflowId(input.pipeline, uri) };
    });
    return end < total ? { items, cursor: String(end) } : { items };
  };
}

describe('source workflow', () => {
  let env: TestWorkflowEnvironment;
  before(async () => (env = await workflowEnv()));
  after(() => env?.teardown());

  it('pages the source, keeps at most maxInFlight documents running, and counts outcomes across continue-as-new', async () => {
    const calls: Calls = [];
    let running = 0;
    let peak = 0;
    const taskQueue = uniqueName('src');
    const pipeline = testPipeline(taskQueue, ['alpha']);
    const worker = await workerFor(
      env,
      taskQueue,
      fakeActivities(calls, {
        listSourcePage: listing(7),
        fetchAndParse: async (input: { sourceUri: string }) => {
          peak = Math.max(peak, ++running);
          await new Promise((r) => setTimeout(r, 150));
          running--;
          if (input.sourceUri.endsWith('doc-3.txt')) return { kind: 'unchanged', chunks: 3 };
          return {
            kind: 'parsed',
            work: { prefix: 'p', contentHash: 'h', bytes: 1, chunksKey: 'c', chunks: 3, tokens: 9 },
            chunks: 3,
            tokens: 9,
          };
        },
      }),
    );
    const workflowId = uniqueName('src-wf');
    // The run's start time, as its progress query gives it on every page (each page is an execution of its own).
    const startedAt = new Map<number, number>();
    const counts = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(sourceWorkflow, {
        taskQueue,
        workflowId,
        args: [{ pipeline, sourceUri: 's3://b/', pageSize: 3, maxInFlight: 2 }],
        workflowExecutionTimeout: '2 minutes',
      });
      const result = handle.result();
      let finished = false;
      void result.finally(() => (finished = true)).catch(() => undefined);
      while (!finished) {
        const p = await env.client.workflow
          .getHandle(workflowId)
          .query(progressQuery)
          .catch(() => undefined);
        if (p) startedAt.set(p.pages, p.startedAt);
        await new Promise((r) => setTimeout(r, 20));
      }
      return result;
    });
    assert.ok(startedAt.size >= 2, `progress seen on ${startedAt.size} page(s)`);
    assert.equal(new Set(startedAt.values()).size, 1, `one start time across continue-as-new: ${[...startedAt]}`);
    assert.equal(counts.listed, 7);
    assert.equal(counts.ingested, 6);
    assert.equal(counts.unchanged, 1);
    assert.equal(counts.failed, 0);
    assert.equal(counts.chunks, 18);
    assert.deepEqual(counts.upserted, { alpha: 18 });
    assert.ok(peak <= 2, `at most 2 documents at once, saw ${peak}`);
    assert.equal(calls.filter((c) => c.name === 'listSourcePage').length, 3, 'three pages of 3, 3 and 1');
    const history = await env.client.workflow.getHandle(workflowId).describe();
    assert.equal(history.status.name, 'COMPLETED');
  });

  it('after the last page, deletes what the ledger has and the source lost', async () => {
    const calls: Calls = [];
    const taskQueue = uniqueName('src');
    const pipeline = testPipeline(taskQueue, ['alpha']);
    const worker = await workerFor(
      env,
      taskQueue,
      fakeActivities(calls, {
        listSourcePage: listing(2),
        findRemoved: async (input: { pipeline: PipelineRef; after?: string }) => {
          const gone = (uri: string) => ({ uri, workflowId: documentWorkflowId(input.pipeline, uri) });
          return input.after ? { items: [gone('s3://b/gone-2.txt')] } : { items: [gone('s3://b/gone-1.txt')], next: 'page-2' };
        },
      }),
    );
    const counts = await worker.runUntil(
      env.client.workflow.execute(sourceWorkflow, {
        taskQueue,
        workflowId: uniqueName('src-wf'),
        args: [{ pipeline, sourceUri: 's3://b/', pageSize: 10, maxInFlight: 4 }],
        workflowExecutionTimeout: '2 minutes',
      }),
    );
    assert.equal(counts.ingested, 2);
    assert.equal(counts.deleted, 2);
    const deleted = calls.filter((c) => c.name === 'deleteFromSink').map((c) => (c.input as { sourceUri: string }).sourceUri);
    assert.deepEqual(deleted.sort(), ['s3://b/gone-1.txt', 's3://b/gone-2.txt']);
  });

  it('pauses and resumes on signal, and reports progress by query', async () => {
    const calls: Calls = [];
    const taskQueue = uniqueName('src');
    const pipeline = testPipeline(taskQueue, ['alpha']);
    const worker = await workerFor(env, taskQueue, fakeActivities(calls, { listSourcePage: listing(4) }));
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(sourceWorkflow, {
        taskQueue,
        workflowId: uniqueName('src-wf'),
        args: [{ pipeline, sourceUri: 's3://b/', pageSize: 10, maxInFlight: 1, paused: true }],
        workflowExecutionTimeout: '2 minutes',
      });
      let p = await handle.query(progressQuery);
      for (let i = 0; i < 50 && p.listed === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        p = await handle.query(progressQuery);
      }
      assert.equal(p.listed, 4);
      assert.equal(p.paused, true);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(calls.filter((c) => c.name === 'fetchAndParse').length, 0, 'nothing starts while paused');
      await handle.signal(resumeSignal);
      const counts = await handle.result();
      assert.equal(counts.ingested, 4);
      await assert.rejects(handle.signal(pauseSignal), /completed/i);
    });
  });
});
