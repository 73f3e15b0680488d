import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ScheduleNotFoundError, type ScheduleDescription } from '@temporalio/client';
import type { SearchAttributePair, TypedSearchAttributes } from '@temporalio/common';
import { pipelineRef } from '../../pipeline/ref.ts';
import { defaultScheduleName } from '../../pipeline/schedule-config.ts';
import { validatePipelineSpec, type PipelineSpec } from '../../pipeline/spec.ts';
import { PipelineSchedules, ScheduleError, scheduleId, UnknownScheduleError } from '../../sdk/schedules.ts';
import { sourceRunOptions } from '../../sdk/source-run.ts';
import { tenantKey } from '../../workflows/search-attributes.ts';
import type { SourceCounts } from '../../workflows/types.ts';
import { eventually } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const HOUR = 3_600_000;

/** Search attributes as sorted `name=value` strings, however the SDK hands them over (the server's order varies). */
const pairs = (sa: SearchAttributePair[] | TypedSearchAttributes | undefined) =>
  (Array.isArray(sa) ? sa : (sa?.getAll() ?? [])).map((p) => `${p.key.name}=${String(p.value)}`).sort();

describe('schedules: periodic reindex as Temporal Schedules (real dev server and workers)', () => {
  const h = new Harness({ embedder: { kind: 'hash', dims: 64 } });
  /** Every schedule id this test may have made: the after hook deletes each (the listing can lag a creation). */
  const made = new Set<string>();
  let source: string;
  let cronName: string;

  const specWith = (schedules: unknown[]): PipelineSpec => {
    const spec = validatePipelineSpec({ ...h.spec, schedules });
    for (const s of spec.schedules ?? []) made.add(scheduleId(pipelineRef(spec), s.name));
    return spec;
  };
  const ops = (spec: PipelineSpec) => new PipelineSchedules(h.client.temporal, spec);
  const raw = (name: string) => h.client.temporal.schedule.getHandle(scheduleId(pipelineRef(h.spec), name));
  const sweep = (overrides: Record<string, unknown> = {}) => ({
    name: 'sweep',
    kind: 'reindex',
    source,
    every: '1d',
    ...overrides,
  });
  const nightly = () => ({
    kind: 'reindex',
    source,
    cron: '0 3 * * *',
    overlap: 'buffer-one',
    paused: true,
    catchupWindow: '10m',
    jitter: '30s',
  });

  /** Waits until the schedule has taken `taken` actions and none runs, then returns the runs' results in order. */
  async function settled(name: string, taken: number): Promise<{ d: ScheduleDescription; results: SourceCounts[] }> {
    const d = await eventually(
      async () => {
        const d = await raw(name).describe();
        return d.info.numActionsTaken === taken && d.info.runningActions.length === 0 ? d : undefined;
      },
      60_000,
      `${name}: ${taken} actions taken, none running`,
    );
    const results = await Promise.all(
      d.info.recentActions.map(
        (a) => h.client.temporal.workflow.getHandle(a.action.workflow.workflowId).result() as Promise<SourceCounts>,
      ),
    );
    return { d, results };
  }

  before(async () => {
    await h.start();
    source = h.uri('docs/');
    cronName = defaultScheduleName('reindex', source);
    await h.put('docs/a.md', '# Alpha\n\nAlpha is the first document of the scheduled source.');
    await h.put('docs/b.txt', 'Beta is the second document; a scheduled reindex ingests it too.');
  });

  after(async () => {
    // Nothing may keep firing on the shared dev server: delete every schedule of this tenant, ending what they run.
    for await (const s of h.client.temporal.schedule.list({ query: `Tenant = "${h.spec.tenant}"` })) made.add(s.scheduleId);
    for (const id of made) {
      const handle = h.client.temporal.schedule.getHandle(id);
      const d = await handle.describe().catch(() => undefined);
      for (const a of d?.info.runningActions ?? [])
        await h.client.temporal.workflow
          .getHandle(a.workflow.workflowId)
          .terminate('test cleanup')
          .catch(() => undefined);
      await handle.delete().catch((err: unknown) => assert.ok(err instanceof ScheduleNotFoundError, String(err)));
    }
    await h.dropIndexes();
    await h.stop();
  });

  it('apply creates each declared schedule as declared, and a second apply changes nothing', async () => {
    const spec = specWith([sweep(), nightly()]);
    assert.deepEqual(await ops(spec).apply(), { created: [cronName, 'sweep'].sort(), updated: [], deleted: [], unchanged: [] });

    const d = await raw('sweep').describe();
    assert.deepEqual(
      d.spec.intervals?.map((i) => [i.every, i.offset ?? 0]),
      [[24 * HOUR, 0]],
    );
    assert.deepEqual(d.policies, { overlap: 'SKIP', catchupWindow: HOUR, pauseOnFailure: false });
    assert.equal(d.state.paused, false);
    // The action starts what `startIngest` starts, on the pipeline's ingest queue, marked as scheduled.
    const run = sourceRunOptions(h.spec, source);
    assert.equal(d.action.workflowType, 'sourceWorkflow');
    assert.deepEqual([d.action.taskQueue, d.action.workflowId, d.action.args], [run.taskQueue, run.workflowId, run.args]);
    assert.deepEqual(pairs(d.action.typedSearchAttributes), pairs(run.typedSearchAttributes));
    assert.equal(d.action.memo?.scheduled, true);
    assert.equal(d.action.memo?.sourceUri, source);
    assert.equal(d.memo?.ragline, 'schedule');

    const n = await raw(cronName).describe();
    assert.deepEqual(n.spec.intervals, []);
    assert.deepEqual(
      n.spec.calendars?.map((c) => [c.hour, c.minute]),
      [[[{ start: 3, end: 3, step: 1 }], [{ start: 0, end: 0, step: 1 }]]],
    );
    assert.deepEqual([n.policies.overlap, n.policies.catchupWindow, n.spec.jitter], ['BUFFER_ONE', 10 * 60_000, 30_000]);
    assert.equal(n.state.paused, true);

    assert.deepEqual(await ops(spec).apply(), { created: [], updated: [], deleted: [], unchanged: [cronName, 'sweep'].sort() });
    const listed = await eventually(async () => {
      const all = await ops(spec).list();
      return all.length === 2 ? all : undefined;
    });
    assert.deepEqual(
      listed.map((s) => [s.name, s.kind, s.every ?? s.cron, s.overlap, s.paused, s.declared, s.upToDate]),
      [
        [cronName, 'reindex', '0 3 * * *', 'buffer-one', true, true, true],
        ['sweep', 'reindex', ['1d'], 'skip', false, true, true],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  it("a changed interval updates the schedule in place, and an operator's pause outlives the apply", async () => {
    const createdAt = (await raw('sweep').describe()).info.createdAt;
    await ops(h.spec).pause('sweep', 'investigating a slow sink');
    const spec = specWith([sweep({ every: '12h' }), nightly()]);
    assert.equal((await ops(spec).describe('sweep')).upToDate, false);
    assert.deepEqual(await ops(spec).apply(), { created: [], updated: ['sweep'], deleted: [], unchanged: [cronName] });
    const d = await raw('sweep').describe();
    assert.deepEqual(
      d.spec.intervals?.map((i) => [i.every, i.offset ?? 0]),
      [[12 * HOUR, 0]],
    );
    assert.deepEqual(d.state, { paused: true, note: 'investigating a slow sink', remainingActions: undefined });
    assert.deepEqual(d.info.createdAt, createdAt);
    assert.equal((await ops(spec).describe('sweep')).upToDate, true);
    assert.deepEqual((await ops(spec).apply()).unchanged, [cronName, 'sweep'].sort());
  });

  it('trigger starts a source run (paused or not) that ingests the documents in the bucket', async () => {
    await ops(h.spec).trigger('sweep');
    const { d, results } = await settled('sweep', 1);
    assert.equal(d.state.paused, true);
    assert.deepEqual(
      { listed: results[0]!.listed, ingested: results[0]!.ingested, failed: results[0]!.failed },
      { listed: 2, ingested: 2, failed: 0 },
    );
    for (const key of ['docs/a.md', 'docs/b.txt'])
      assert.equal((await h.ledger.get(h.spec.tenant, h.uri(key)))?.status, 'ingested');
    const started = d.info.recentActions[0]!.action.workflow;
    assert.ok(started.workflowId.startsWith(`${sourceRunOptions(h.spec, source).workflowId}-`), started.workflowId);
    const first = await h.client.temporal.workflow.getHandle(started.workflowId, started.firstExecutionRunId).describe();
    assert.equal(first.type, 'sourceWorkflow');
    assert.equal(first.memo?.scheduled, true);
    assert.equal((first.memo?.schedule as { name: string }).name, 'sweep');
    assert.equal(first.typedSearchAttributes.get(tenantKey), h.spec.tenant);
    // A run started by hand is the same workflow with the same input: it finds everything done.
    assert.deepEqual((await h.ingestAll('docs/')).unchanged, 2);
  });

  it('backfill takes the runs of a past window under the overlap policy: skip runs one, buffer-one one more', async () => {
    // 12h apart from the epoch: a window of 36h (not on a boundary) holds 3 times.
    const to = new Date();
    const from = new Date(to.getTime() - 36 * HOUR);
    const before = await raw('sweep').describe();
    await ops(h.spec).backfill('sweep', from, to);
    const skipped = await settled('sweep', before.info.numActionsTaken + 1);
    assert.equal(skipped.d.info.numActionsSkippedOverlap, before.info.numActionsSkippedOverlap + 2);
    assert.deepEqual(skipped.results.at(-1)!.unchanged, 2);

    const spec = specWith([sweep({ every: '12h', overlap: 'buffer-one' }), nightly()]);
    assert.deepEqual((await ops(spec).apply()).updated, ['sweep']);
    await ops(spec).backfill('sweep', from, to);
    const buffered = await settled('sweep', skipped.d.info.numActionsTaken + 2);
    assert.equal(buffered.d.policies.overlap, 'BUFFER_ONE');
    assert.equal(buffered.d.info.numActionsSkippedOverlap, skipped.d.info.numActionsSkippedOverlap + 1);
    assert.deepEqual(
      buffered.results.slice(-2).map((r) => [r.listed, r.unchanged, r.failed]),
      [
        [2, 2, 0],
        [2, 2, 0],
      ],
    );
    await assert.rejects(ops(spec).backfill('sweep', to, from), ScheduleError);
  });

  it('unpause resumes the timetable', async () => {
    await ops(h.spec).unpause('sweep');
    const s = await ops(h.spec).describe('sweep');
    assert.equal(s.paused, false);
    assert.ok(s.nextRuns.length > 0 && Date.parse(s.nextRuns[0]!) > Date.now());
    await ops(h.spec).pause('sweep'); // nothing fires on its own while the rest runs
  });

  it('a schedule the spec no longer declares is deleted by apply; delete removes one by name', async () => {
    const spec = specWith([nightly()]);
    assert.deepEqual(await ops(spec).apply(), { created: [], updated: [], deleted: ['sweep'], unchanged: [cronName] });
    await assert.rejects(raw('sweep').describe(), ScheduleNotFoundError);
    await assert.rejects(ops(spec).describe('sweep'), UnknownScheduleError);

    await ops(spec).delete(cronName);
    await assert.rejects(raw(cronName).describe(), ScheduleNotFoundError);
    await assert.rejects(ops(spec).delete(cronName), /no schedule reindex-.* for pipeline/);
    // The listing may still show the deleted one for a moment: apply does not report it twice.
    assert.deepEqual(await ops(specWith([])).apply(), { created: [], updated: [], deleted: [], unchanged: [] });
  });

  it('a reconcile schedule starts the reconciliation workflow over the documents under its source', async () => {
    const spec = specWith([{ name: 'check', kind: 'reconcile', source, every: '1d', paused: true }]);
    assert.deepEqual((await ops(spec).apply()).created, ['check']);
    const d = await raw('check').describe();
    assert.equal(d.action.type, 'startWorkflow');
    const action = d.action as Extract<ScheduleDescription['action'], { type: 'startWorkflow' }>;
    assert.equal(action.workflowType, 'reconcileWorkflow');
    const input = action.args?.[0] as { sourcePrefix?: string; dryRun: boolean; pipeline: { name: string } };
    assert.deepEqual([input.sourcePrefix, input.dryRun, input.pipeline.name], [source, false, h.spec.name]);
    const st = await ops(spec).describe('check');
    assert.deepEqual([st.kind, st.source, st.upToDate], ['reconcile', source, true]);
    assert.deepEqual((await ops(specWith([])).apply()).deleted, ['check']);
  });

  it('the CLI applies, lists, describes and deletes', async () => {
    const file = join(h.dataDir, 'scheduled.json');
    const ingest = async (spec: PipelineSpec, args: string[]) => {
      writeFileSync(file, JSON.stringify(spec));
      return (
        await run(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', file, 'schedule', ...args], {
          cwd: root,
          env: cliEnv(),
        })
      ).stdout;
    };
    const spec = specWith([sweep({ paused: true })]);
    assert.deepEqual(JSON.parse(await ingest(spec, ['apply', '--json'])), {
      created: ['sweep'],
      updated: [],
      deleted: [],
      unchanged: [],
    });
    const described = JSON.parse(await ingest(spec, ['describe', 'sweep', '--json']));
    assert.deepEqual([described.every, described.overlap, described.paused, described.upToDate], [['1d'], 'skip', true, true]);
    const listed = await ingest(spec, ['list']);
    assert.match(listed, /^sweep\s+reindex\s+every 1d\s+overlap skip\s+paused/m);
    assert.match(await ingest(spec, ['delete', 'sweep']), /sweep: deleted/);
  });
});
