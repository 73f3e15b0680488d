// Cancelling a source run, step by step on the dev server with stub activities: the run stops starting documents,
// its document workflows stop at the next step, clean up their artifacts although cancelled, and the run ends
// cancelled only after them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { docStatusKey } from '../../workflows/search-attributes.ts';
import { progressQuery, sourceWorkflow } from '../../workflows/source.ts';
import type { PipelineRef } from '../../workflows/types.ts';
import { eventually } from '../support/stack.ts';
import { fakeActivities, names, testPipeline, uniqueName, workerFor, workflowEnv, type Calls } from './support.ts';

describe('source workflow: cancel', () => {
  let env: TestWorkflowEnvironment;
  before(async () => (env = await workflowEnv()));
  after(() => env?.teardown());

  it('cancels the documents in flight (their artifacts removed, nothing committed) and starts no other', async () => {
    const calls: Calls = [];
    const taskQueue = uniqueName('src-cancel');
    const pipeline = testPipeline(taskQueue, ['alpha']);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const work = (uri: string) => ({ prefix: `work/${uri}`, contentHash: 'h', bytes: 1, chunksKey: 'c', chunks: 3, tokens: 9 });
    const worker = await workerFor(
      env,
      taskQueue,
      fakeActivities(calls, {
        listSourcePage: async (input: { pipeline: PipelineRef }) => ({
          items: Array.from({ length: 6 }, (_, i) => {
            const uri = `s3://b/doc-${i}.txt`;
            return { uri, version: 'v1', workflowId: documentWorkflowId(input.pipeline, uri) };
          }),
        }),
        fetchAndParse: async (input: { sourceUri: string }) => ({
          kind: 'parsed',
          work: work(input.sourceUri),
          chunks: 3,
          tokens: 9,
        }),
        // Like the real step, it does not notice the cancellation: it finishes, and its result must still be cleaned.
        embedChunks: async (input: { work: unknown }) => {
          await gate;
          return { work: input.work, embedded: 3, cached: 0 };
        },
      }),
    );
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(sourceWorkflow, {
        taskQueue,
        workflowId: uniqueName('src-wf'),
        args: [{ pipeline, sourceUri: 's3://b/', pageSize: 10, maxInFlight: 2 }],
        workflowExecutionTimeout: '2 minutes',
      });
      await eventually(async () => (names(calls).filter((n) => n === 'embedChunks').length === 2 ? true : undefined));
      await handle.cancel();
      const children = [0, 1].map((i) => env.client.workflow.getHandle(documentWorkflowId(pipeline, `s3://b/doc-${i}.txt`)));
      // Let the embedding steps finish only once both documents were asked to cancel.
      for (const child of children) {
        await eventually(async () => {
          const { events } = await child.fetchHistory();
          return events?.some((e) => e.workflowExecutionCancelRequestedEventAttributes) ? true : undefined;
        });
      }
      assert.equal((await handle.query(progressQuery)).inFlight, 2, 'the run waits for its documents');
      release();

      await assert.rejects(handle.result(), (err) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
      for (const child of children) {
        const d = await child.describe();
        assert.equal(d.status.name, 'CANCELLED');
        assert.equal(d.typedSearchAttributes.get(docStatusKey), 'cancelled');
      }
      const seq = names(calls);
      assert.equal(seq.filter((n) => n === 'fetchAndParse').length, 2, 'no document started after the cancel');
      assert.deepEqual(
        calls
          .filter((c) => c.name === 'cleanupWork')
          .map((c) => (c.input as { work: { prefix: string } }).work.prefix)
          .sort(),
        ['work/s3://b/doc-0.txt', 'work/s3://b/doc-1.txt'],
        'each cancelled document removed its artifacts',
      );
      for (const n of ['upsertToSink', 'commitDocument', 'recordFailure']) assert.ok(!seq.includes(n), `${n} was not called`);
      // The ledger says cancelled, once per document, although the workflow was being cancelled.
      assert.deepEqual(
        calls
          .filter((c) => c.name === 'recordCancelled')
          .map((c) => (c.input as { sourceUri: string }).sourceUri)
          .sort(),
        ['s3://b/doc-0.txt', 's3://b/doc-1.txt'],
      );
    });
  });
});
