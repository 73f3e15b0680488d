import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpecError, validatePipelineSpec } from '../pipeline/spec.ts';
import { invalidMaxInFlight, MAX_IN_FLIGHT, MIN_IN_FLIGHT } from '../workflows/run-controls.ts';
import { groupRuns, sourceRunsQuery, type ExecutionRow } from './runs.ts';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const row = (workflowId: string, runId: string, status: string, start: number, close?: number): ExecutionRow => ({
  workflowId,
  runId,
  status,
  startTime: at(start),
  closeTime: close === undefined ? undefined : at(close),
  sourceUri: `s3://b/${workflowId}/`,
});

describe('source runs listing', () => {
  it('folds the pages of a run (continue-as-new) into one run with the first start and the last status', () => {
    const runs = groupRuns([
      row('a', 'a3', 'COMPLETED', 20, 30),
      row('a', 'a1', 'CONTINUED_AS_NEW', 0, 10),
      row('a', 'a2', 'CONTINUED_AS_NEW', 10, 20),
      row('b', 'b1', 'RUNNING', 5),
    ]);
    assert.deepEqual(runs, [
      { workflowId: 'b', runId: 'b1', sourceUri: 's3://b/b/', status: 'running', startTime: at(5).toISOString() },
      {
        workflowId: 'a',
        runId: 'a3',
        sourceUri: 's3://b/a/',
        status: 'completed',
        startTime: at(0).toISOString(),
        closeTime: at(30).toISOString(),
      },
    ]);
  });

  it('keeps two runs of the same id apart, maps every status, and counts a chain whose tail is not listed yet as running', () => {
    const runs = groupRuns([
      row('a', 'a1', 'CANCELLED', 0, 5),
      row('a', 'a2', 'CONTINUED_AS_NEW', 10, 12),
      row('a', 'a3', 'TIMED_OUT', 12, 13),
      row('c', 'c1', 'CONTINUED_AS_NEW', 20, 21),
      row('d', 'd1', 'TERMINATED', 1, 2),
    ]);
    assert.deepEqual(
      runs.map((r) => [r.workflowId, r.runId, r.status, r.startTime]),
      [
        ['c', 'c1', 'running', at(20).toISOString()],
        ['a', 'a3', 'timed-out', at(10).toISOString()],
        ['d', 'd1', 'terminated', at(1).toISOString()],
        ['a', 'a1', 'cancelled', at(0).toISOString()],
      ],
    );
  });

  it('queries source runs of one pipeline version and tenant, quoting values', () => {
    assert.equal(
      sourceRunsQuery({ name: 'docs', version: 2, tenant: 'a"c\\me' }),
      'WorkflowType = "sourceWorkflow" AND Pipeline = "docs-v2" AND Tenant = "a\\"c\\\\me"',
    );
  });
});

// The rule the source workflow's validators and signal handlers apply (workflows/run-controls.ts).
describe('run controls: the throttle rule', () => {
  it('accepts every integer from 1 to 1000', () => {
    for (const n of [1, 2, 8, 999, 1000]) assert.equal(invalidMaxInFlight(n), undefined, String(n));
  });

  it('refuses zero, negatives, fractions, NaN, infinities, huge numbers and non-numbers', () => {
    for (const n of [0, -1, 1.5, Number.NaN, Infinity, -Infinity, 1001, 100_000, 1e9, null, undefined, '4', [4], {}]) {
      assert.equal(invalidMaxInFlight(n), 'throttle must be an integer from 1 to 1000', String(n));
    }
  });

  it("has the bounds of the spec's concurrency.documents", () => {
    const spec = (documents: number) =>
      validatePipelineSpec({
        name: 'p',
        version: 1,
        tenant: 't',
        chunker: { kind: 'recursive', chunkSize: 100, chunkOverlap: 10 },
        embedder: { kind: 'local-onnx' },
        sinks: [{ kind: 'chroma', name: 'a' }],
        blobStore: { kind: 'local-dir' },
        ledger: { kind: 'sqlite' },
        concurrency: { documents, pageSize: 10 },
      });
    assert.equal(spec(MIN_IN_FLIGHT).concurrency.documents, MIN_IN_FLIGHT);
    assert.equal(spec(MAX_IN_FLIGHT).concurrency.documents, MAX_IN_FLIGHT);
    assert.throws(() => spec(MIN_IN_FLIGHT - 1), PipelineSpecError);
    assert.throws(() => spec(MAX_IN_FLIGHT + 1), PipelineSpecError);
  });
});
