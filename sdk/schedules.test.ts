import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipelineRef } from '../pipeline/ref.ts';
import { validatePipelineSpec, type PipelineSpecInput } from '../pipeline/spec.ts';
import { compileSchedule, scheduleId } from './schedules.ts';
import { sourceRunOptions } from './source-run.ts';

const base: PipelineSpecInput = {
  name: 'docs',
  version: 3,
  tenant: 'acme',
  chunker: { kind: 'recursive', chunkSize: 100, chunkOverlap: 10 },
  embedder: { kind: 'local-onnx' },
  sinks: [{ kind: 'chroma', name: 'a' }],
  blobStore: { kind: 'local-dir' },
  ledger: { kind: 'sqlite' },
};
const nightly = { name: 'nightly', kind: 'reindex', source: 's3://docs/inbox/', every: '1d' } as const;

function compiled(overrides: Partial<PipelineSpecInput> = {}, schedule: Record<string, unknown> = nightly) {
  const spec = validatePipelineSpec({ ...base, schedules: [schedule], ...overrides });
  return { spec, c: compileSchedule(spec, spec.schedules![0]!) };
}

test('schedule ids are (pipeline, version, tenant, name), like workflow ids', () => {
  const ref = { name: 'docs', version: 3, tenant: 'acme' };
  assert.equal(scheduleId(ref, 'nightly'), 'schedule:docs-v3:acme:nightly');
  const ids = new Set([
    scheduleId(ref, 'nightly'),
    scheduleId({ ...ref, version: 4 }, 'nightly'),
    scheduleId({ ...ref, tenant: 'globex' }, 'nightly'),
    scheduleId(ref, 'hourly'),
  ]);
  assert.equal(ids.size, 4);
  // The longest names the spec allows stay far below Temporal's 1,000-byte ids.
  assert.ok(scheduleId({ name: 'a'.repeat(40), version: 999, tenant: 'b'.repeat(64) }, 'c'.repeat(63)).length < 200);
});

test("a schedule's action starts the same source run as startIngest, marked as scheduled", () => {
  const { spec, c } = compiled();
  const run = sourceRunOptions(spec, nightly.source);
  const { action } = c.options;
  assert.equal(c.scheduleId, scheduleId(pipelineRef(spec), 'nightly'));
  assert.deepEqual(
    [action.workflowType, action.taskQueue, action.workflowId, action.args, action.typedSearchAttributes],
    [run.workflowType, run.taskQueue, run.workflowId, run.args, run.typedSearchAttributes],
  );
  assert.equal(action.taskQueue, 'ragline.docs.v3.ingest');
  assert.deepEqual(action.memo, {
    ...run.memo,
    scheduled: true,
    schedule: { name: 'nightly', fingerprint: c.fingerprint, declared: spec.schedules![0] },
  });
  assert.deepEqual(c.options.spec, { intervals: [{ every: 86_400_000 }], jitter: 0 });
  assert.deepEqual(c.options.policies, { overlap: 'SKIP', catchupWindow: 3_600_000, pauseOnFailure: false });
  assert.deepEqual(c.options.memo, {
    ragline: 'schedule',
    pipeline: 'docs',
    pipelineVersion: 3,
    tenant: 'acme',
    schedule: 'nightly',
  });
  const cron = compiled(
    {},
    { ...nightly, every: undefined, cron: '0 3 * * *', overlap: 'buffer-one', jitter: '5m', paused: true },
  ).c;
  assert.deepEqual(cron.options.spec, { cronExpressions: ['0 3 * * *'], jitter: 300_000 });
  assert.equal(cron.options.policies?.overlap, 'BUFFER_ONE');
  assert.deepEqual(cron.options.state, { paused: true, note: 'paused by the pipeline spec' });
});

test('the fingerprint changes with the declaration and with the run it starts, and only then', () => {
  const { c } = compiled();
  assert.equal(compiled().c.fingerprint, c.fingerprint);
  // The same declaration written in another key order, or naming its default values, is the same declaration.
  const { name, kind, source, every } = nightly;
  assert.equal(compiled({}, { every, source, kind, name, overlap: 'skip', jitter: '0s' }).c.fingerprint, c.fingerprint);
  const changed = [
    compiled({}, { ...nightly, every: '12h' }),
    compiled({}, { ...nightly, overlap: 'buffer-one' }),
    compiled({}, { ...nightly, paused: true }),
    compiled({}, { ...nightly, catchupWindow: '2h' }),
    compiled({}, { ...nightly, jitter: '1m' }),
    compiled({}, { ...nightly, source: 's3://docs/other/' }),
    // What the run is: the chunker is in the pipeline's fingerprint, which workers compare with their own.
    compiled({ chunker: { kind: 'recursive', chunkSize: 120, chunkOverlap: 10 } }),
    compiled({ concurrency: { documents: 2, pageSize: 100 } }),
  ].map((x) => x.c.fingerprint);
  assert.equal(new Set([c.fingerprint, ...changed]).size, changed.length + 1);
  // Another schedule beside it, or a setting that reaches neither the schedule nor its run, changes nothing.
  const beside = validatePipelineSpec({
    ...base,
    schedules: [nightly, { kind: 'reindex', source: 's3://docs/b/', every: '1h' }],
    indexVersions: { retireAfterMinutes: 5 },
  });
  assert.equal(compileSchedule(beside, beside.schedules![0]!).fingerprint, c.fingerprint);
});
