import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { reconcileWorkflow } from '../../workflows/reconcile.ts';
import type { PipelineRef, ReconcileInput } from '../../workflows/types.ts';
import { fakeActivities, names, testPipeline, uniqueName, workerFor, workflowEnv, type Calls } from './support.ts';

/** A ledger of `total` documents served in pages; every third one lacks 2 chunks in sink `beta`. */
function missingPages(total: number) {
  return async (input: { pipeline: PipelineRef; sinks: string[]; absent: string[]; after?: string; limit: number }) => {
    const start = Number(input.after ?? 0);
    const end = Math.min(total, start + input.limit);
    const docs = [];
    const missing: Record<string, number> = Object.fromEntries([...input.sinks, ...input.absent].map((s) => [s, 0]));
    for (let i = start; i < end; i++) {
      const counts: Record<string, number> = {};
      for (const s of input.absent) counts[s] = 3;
      if (i % 3 === 0 && input.sinks.includes('beta')) counts.beta = 2;
      if (Object.keys(counts).length === 0) continue;
      for (const [s, n] of Object.entries(counts)) missing[s]! += n;
      const uri = `s3://b/doc-${i}.txt`;
      docs.push({ uri, workflowId: documentWorkflowId(input.pipeline, uri), missing: counts });
    }
    return { documents: end - start, missing, docs, ...(end < total ? { next: String(end) } : {}) };
  };
}

function input(pipeline: PipelineRef, over: Partial<ReconcileInput> = {}): ReconcileInput {
  return { pipeline, dryRun: false, pageSize: 4, maxInFlight: 2, ...over };
}

describe('reconcile workflow', () => {
  let env: TestWorkflowEnvironment;
  before(async () => (env = await workflowEnv()));
  after(() => env?.teardown());

  /** Runs one reconciliation to its end on a worker with these fake activities; returns its report. */
  async function reconcile(
    calls: Calls,
    overrides: Parameters<typeof fakeActivities>[1],
    over: Partial<ReconcileInput> = {},
    sinks?: string[],
  ) {
    const taskQueue = uniqueName('rec');
    const worker = await workerFor(env, taskQueue, fakeActivities(calls, overrides));
    return worker.runUntil(
      env.client.workflow.execute(reconcileWorkflow, {
        taskQueue,
        workflowId: uniqueName('rec-wf'),
        args: [input(testPipeline(taskQueue, sinks), over)],
        workflowExecutionTimeout: '2 minutes',
      }),
    );
  }

  it('counts drift per sink, repairs each drifting document with a repair event, and pages the ledger', async () => {
    const calls: Calls = [];
    const report = await reconcile(
      calls,
      {
        reconcileMissing: missingPages(10),
        reconcileOrphans: async (i: { sink: string; cursor?: string }) =>
          i.sink === 'alpha' && i.cursor === undefined
            ? { orphans: 5, deleted: 4, skipped: 1, scanned: 100, cursor: 'c1', deletedSince: 4 }
            : { orphans: i.sink === 'alpha' ? 2 : 0, deleted: i.sink === 'alpha' ? 2 : 0, skipped: 0, scanned: 50 },
      },
      {},
      undefined,
    );
    // doc-0, 3, 6, 9 lack 2 chunks each in beta.
    assert.deepEqual(report.sinks.beta, { missing: 8, orphans: 0, repaired: 8, rebuilt: 0, documents: 4, skipped: 0 });
    assert.deepEqual(report.sinks.alpha, { missing: 0, orphans: 7, repaired: 6, rebuilt: 0, documents: 0, skipped: 1 });
    assert.equal(report.documents, 10);
    // The fake document has 3 chunks, none from the cache.
    assert.deepEqual(report.repairs, { started: 4, ingested: 4, failed: 0, handedOff: 0, chunks: 12, cached: 0 });
    assert.equal(report.phase, 'done');
    // The second orphan scan of alpha resumed at the first one's cursor, stepping back over what it deleted.
    const scans = calls
      .filter((c) => c.name === 'reconcileOrphans')
      .map((c) => c.input as { sink: string; cursor?: string; deletedSince?: number });
    assert.deepEqual(
      scans.map((s) => [s.sink, s.cursor, s.deletedSince]),
      [
        ['alpha', undefined, undefined],
        ['alpha', 'c1', 4],
        ['beta', undefined, undefined],
      ],
    );
    // Each repaired document was read again with the repair flag (the ledger says it is up to date).
    const fetched = calls
      .filter((c) => c.name === 'fetchAndParse')
      .map((c) => c.input as { sourceUri: string; repair?: boolean });
    assert.deepEqual(fetched.map((f) => f.sourceUri).sort(), [
      's3://b/doc-0.txt',
      's3://b/doc-3.txt',
      's3://b/doc-6.txt',
      's3://b/doc-9.txt',
    ]);
    assert.ok(fetched.every((f) => f.repair === true));
    assert.equal(names(calls).filter((n) => n === 'sweepArtifacts').length, 1);
  });

  it('a dry run counts, starts no repair and rebuilds nothing; a missing index counts every chunk missing', async () => {
    const calls: Calls = [];
    const report = await reconcile(
      calls,
      {
        reconcileMissing: missingPages(6),
        reconcileIndex: async (i: { sink: string }) => ({ exists: i.sink !== 'alpha', current: true, aliasRestored: false }),
      },
      { dryRun: true },
      undefined,
    );
    assert.equal(report.sinks.alpha!.missing, 18, 'alpha has no index: all 6 documents x 3 chunks');
    assert.equal(report.sinks.alpha!.rebuilt, 0);
    assert.equal(report.sinks.beta!.missing, 4);
    assert.equal(report.repairs.started, 0);
    for (const n of ['fetchAndParse', 'rebuildIndex', 'describeEmbedder']) assert.ok(!names(calls).includes(n), n);
    assert.ok(
      calls.filter((c) => c.name === 'reconcileOrphans').every((c) => (c.input as { sink: string }).sink === 'beta'),
      'no orphan scan of a sink without an index',
    );
  });

  it('rebuilds a lost index with the embedder shape, and reports a sink that stays down without failing the run', async () => {
    const calls: Calls = [];
    const report = await reconcile(
      calls,
      {
        reconcileMissing: missingPages(3),
        reconcileIndex: async (i: { sink: string }) => {
          if (i.sink === 'gamma') throw ApplicationFailure.nonRetryable('gamma is down', 'SinkRejected');
          return { exists: i.sink !== 'alpha', current: true, aliasRestored: false };
        },
      },
      {},
      ['alpha', 'beta', 'gamma'],
    );
    assert.equal(report.sinks.alpha!.rebuilt, 1);
    const rebuilt = calls.find((c) => c.name === 'rebuildIndex')!.input as { sink: string; dims: number; metric: string };
    assert.deepEqual([rebuilt.sink, rebuilt.dims, rebuilt.metric], ['alpha', 4, 'cosine']);
    assert.match(report.sinks.gamma!.error ?? '', /SinkRejected: gamma is down/);
    assert.ok(
      calls.filter((c) => c.name === 'reconcileMissing').every((c) => !(c.input as { sinks: string[] }).sinks.includes('gamma')),
      'the unreachable sink is left out of the later steps',
    );
    assert.equal(report.phase, 'done');
  });
});
