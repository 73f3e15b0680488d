// A source run's controls on the real stack: pause and resume, throttle (and the values it refuses, by update and by
// signal), cancel (no artifacts left, no further documents), and the `ingest runs` commands that drive them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CancelledFailure, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { documentKey, documentWorkflowId } from '../../pipeline/ids.ts';
import type { IngestHandle } from '../../sdk/client.ts';
import { RunControlError, type RunSummary } from '../../sdk/runs.ts';
import { docStatusKey } from '../../workflows/search-attributes.ts';
import { throttleSignal } from '../../workflows/source.ts';
import type { SourceProgress } from '../../workflows/types.ts';
import { eventually, uniqueName } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const exec = promisify(execFile);
const DOCS = 40;
const REFUSED = 'throttle must be an integer from 1 to 1000';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const outcomes = (p: SourceProgress) => ({ ingested: p.ingested, unchanged: p.unchanged, failed: p.failed, deleted: p.deleted });

describe('source run controls: pause, resume, throttle, cancel (SDK and CLI)', () => {
  let h: Harness;
  let specFile: string;

  /** `ingest --pipeline FILE runs <args>` as an operator runs it; resolves with its exit code and output. */
  async function runs(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await exec(
        process.execPath,
        [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'runs', ...args],
        {
          cwd: root,
          env: cliEnv(),
        },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  /** 40 small Markdown documents under `prefix`. */
  async function putDocs(prefix: string): Promise<string[]> {
    const keys = Array.from({ length: DOCS }, (_, i) => `${prefix}doc-${String(i).padStart(2, '0')}.md`);
    await Promise.all(keys.map((k, i) => h.put(k, `# Note ${i}\n\nDocument ${i} of the ${prefix} set. Runs can be paused.`)));
    return keys.map((k) => h.uri(k));
  }

  /** The run's progress once `pick` accepts it. */
  const progressWhen = (run: IngestHandle, pick: (p: SourceProgress) => boolean, what: string) =>
    eventually(
      async () => {
        const p = await run.progress();
        return pick(p) ? p : undefined;
      },
      120_000,
      what,
    );

  /** Files left in the blob store's work folders of these documents (every artifact of every run of them). */
  const workFiles = (uris: string[]) =>
    uris.flatMap((uri) => {
      const dir = join(h.dataDir, 'blobs', 'work', h.spec.tenant, documentKey(h.spec.tenant, uri));
      return existsSync(dir) ? readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))) : [];
    });

  before(async () => {
    h = new Harness({ concurrency: { documents: 2, pageSize: 10 } });
    await h.start();
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
  });
  after(async () => {
    await h?.dropIndexes();
    await h?.stop();
  });

  it('pause stops starting documents (counts frozen, nothing in flight); resume finishes with every document ingested', async () => {
    const uris = await putDocs('pause/');
    const run = await h.client.startIngest(h.uri('pause/'));
    assert.deepEqual(await run.pause(), { paused: true, maxInFlight: 2 });
    const paused = await progressWhen(run, (p) => p.paused && p.inFlight === 0, 'the documents in flight to finish');
    const ledgerRows = async () => (await h.ledger.list({ tenant: h.spec.tenant, sourcePrefix: h.uri('pause/') })).records.length;
    const rowsWhilePaused = await ledgerRows();
    // Absence can only be shown by waiting: nothing may start while paused.
    await sleep(3000);
    const later = await run.progress();
    assert.deepEqual(outcomes(later), outcomes(paused), 'no document finished while paused');
    assert.equal(later.inFlight, 0);
    assert.equal(await ledgerRows(), rowsWhilePaused, 'no document was recorded while paused');
    assert.ok(later.ingested < DOCS, `paused before the end (${later.ingested} ingested)`);

    assert.deepEqual(await run.resume(), { paused: false, maxInFlight: 2 });
    const counts = await run.result();
    assert.equal(counts.ingested, DOCS, JSON.stringify(counts));
    assert.equal(counts.failed, 0);
    for (const uri of uris) assert.equal((await h.ledger.get(h.spec.tenant, uri))?.status, 'ingested', uri);
    // The finished run says so in the Temporal UI's DocStatus column (it stayed `running` before).
    const closed = await h.client.temporal.workflow.getHandle(run.workflowId).describe();
    assert.equal(closed.status.name, 'COMPLETED');
    assert.equal(closed.typedSearchAttributes.get(docStatusKey), 'completed');
  });

  it('a run that fails ends with DocStatus failed', async () => {
    const run = await h.client.startIngest(`s3://${uniqueName('no-such-bucket')}/docs/`);
    await assert.rejects(run.result(), WorkflowFailedError);
    const closed = await h.client.temporal.workflow.getHandle(run.workflowId).describe();
    assert.equal(closed.status.name, 'FAILED');
    assert.equal(closed.typedSearchAttributes.get(docStatusKey), 'failed');
  });

  it('throttle refuses 0, -1, 1.5 and 100000 (update and signal alike), and throttle(1) narrows the window at once', async () => {
    await putDocs('throttle/');
    const run = await h.client.startIngest(h.uri('throttle/'));
    // Paused, the run cannot end while the refusals are tried.
    await run.pause();
    for (const bad of [0, -1, 1.5, 100_000]) {
      await assert.rejects(run.throttle(bad), (err) => err instanceof RunControlError && err.message === REFUSED, String(bad));
    }
    assert.equal((await run.progress()).maxInFlight, 2, 'refused values are never stored');

    // The Temporal UI sends signals: a bad value is ignored (and logged), a good one applies.
    const wf = h.client.temporal.workflow.getHandle(run.workflowId);
    for (const bad of [0, -1, 1.5, 100_000]) await wf.signal(throttleSignal, bad);
    // An update is handled after the signals sent before it, so its answer shows what they did.
    assert.deepEqual(await run.pause(), { paused: true, maxInFlight: 2 }, 'bad signals changed nothing');
    await wf.signal(throttleSignal, 3);
    assert.deepEqual(await run.pause(), { paused: true, maxInFlight: 3 }, 'a valid signal applies');
    assert.deepEqual(await run.throttle(2), { paused: true, maxInFlight: 2 });

    await run.resume();
    await progressWhen(run, (p) => p.inFlight === 2, 'two documents in flight');
    assert.deepEqual(await run.throttle(1), { paused: false, maxInFlight: 1 });
    await progressWhen(run, (p) => p.inFlight <= 1, 'the window to narrow to 1');
    // From then on, never more than one at a time.
    for (let p = await run.progress(); !p.done; p = await run.progress()) {
      assert.ok(p.inFlight <= 1, `in flight ${p.inFlight} after throttle(1)`);
      assert.equal(p.maxInFlight, 1, 'the window survives continue-as-new');
      await sleep(100);
    }
    const counts = await run.result();
    assert.equal(counts.ingested, DOCS, JSON.stringify(counts));
  });

  it('cancel ends the run cancelled: in-flight documents cancelled and cleaned up, the rest never ingested', async () => {
    const uris = await putDocs('cancel/');
    const run = await h.client.startIngest(h.uri('cancel/'));
    await progressWhen(run, (p) => p.ingested >= 2 && p.inFlight > 0, 'a run under way');
    await run.cancel();
    await assert.rejects(run.result(), (err) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    const wf = h.client.temporal.workflow.getHandle(run.workflowId);
    assert.equal((await wf.describe()).status.name, 'CANCELLED');
    assert.equal((await wf.describe()).typedSearchAttributes.get(docStatusKey), 'cancelled');
    await assert.rejects(run.pause(), RunControlError, 'a closed run takes no controls');

    // The run waited for its documents: each is done (ingested) or cancelled, none is still running.
    const states = new Map<string, string>();
    for (const uri of uris) {
      const doc = h.client.temporal.workflow.getHandle(documentWorkflowId(h.spec, uri));
      try {
        const d = await doc.describe();
        states.set(uri, d.status.name);
        if (d.status.name === 'CANCELLED') assert.equal(d.typedSearchAttributes.get(docStatusKey), 'cancelled', uri);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        states.set(uri, 'NOT_STARTED');
      }
    }
    const ofState = (s: string) => uris.filter((u) => states.get(u) === s);
    assert.deepEqual(ofState('RUNNING'), [], 'no document workflow outlives the run');
    assert.ok(ofState('NOT_STARTED').length > 0, 'some documents were never started');

    const records = (await h.ledger.list({ tenant: h.spec.tenant, sourcePrefix: h.uri('cancel/') })).records;
    const ingested = records.filter((r) => r.status === 'ingested').map((r) => r.sourceUri);
    assert.deepEqual(ingested.sort(), ofState('COMPLETED').sort(), 'exactly the completed documents are ingested');
    assert.ok(ingested.length < DOCS);
    // A document cancelled mid-way is recorded cancelled (never ingested, nothing in the sinks); one never started has no row.
    const cancelled = records.filter((r) => r.status === 'cancelled');
    assert.deepEqual(cancelled.map((r) => r.sourceUri).sort(), ofState('CANCELLED').sort(), 'the cancelled documents say so');
    for (const r of cancelled) {
      assert.deepEqual([r.chunkIds, r.contentHash, r.lastError?.type], [[], null, 'Cancelled'], r.sourceUri);
    }
    assert.deepEqual(
      records.filter((r) => r.status !== 'ingested' && r.status !== 'cancelled'),
      [],
      'no other state is left behind',
    );
    for (const uri of uris.filter((u) => !ingested.includes(u))) {
      assert.deepEqual(await h.sink.idsOfDocument(h.index, h.spec.tenant, uri), [], `${uri} has no chunks`);
    }
    assert.deepEqual(workFiles(uris), [], 'no artifacts left in the blob store');
  });

  it('`ingest runs` lists, describes, pauses, resumes, throttles and cancels a run; a refused throttle exits 1', async () => {
    await putDocs('cli/');
    const uri = h.uri('cli/');
    const run = await h.client.startIngest(uri);

    const paused = await runs(['pause', uri]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /: paused, at most 2 document\(s\) at once/);

    const listed = await eventually(
      async () => {
        const out = await runs(['list', '--json']);
        assert.equal(out.code, 0, out.stderr);
        return (JSON.parse(out.stdout) as RunSummary[]).find((r) => r.workflowId === run.workflowId);
      },
      60_000,
      'the run in `ingest runs list`',
    );
    assert.equal(listed.sourceUri, uri);
    assert.equal(listed.status, 'running');
    assert.ok(!Number.isNaN(Date.parse(listed.startTime)));

    const described = await runs(['describe', uri, '--json']);
    assert.equal(described.code, 0, described.stderr);
    const d = JSON.parse(described.stdout) as Record<string, unknown>;
    assert.equal(d.status, 'running');
    assert.equal(d.paused, true);
    assert.equal(d.maxInFlight, 2);
    for (const k of ['listed', 'ingested', 'unchanged', 'deleted', 'failed', 'inFlight', 'chunks', 'docsPerSecond'])
      assert.equal(typeof d[k], 'number', k);
    // The run started before this command: its start time is the run's, and the rate counts from there.
    const startedAt = Date.parse(String(d.startedAt));
    assert.ok(startedAt <= Date.now() && startedAt > Date.now() - 600_000, String(d.startedAt));
    assert.ok((d.chunks as number) >= 0 && (d.docsPerSecond as number) >= 0, described.stdout);
    const text = await runs(['describe', uri]);
    assert.match(text.stdout, /listed \d+, ingested \d+, unchanged \d+, deleted \d+, failed \d+/);
    assert.match(
      text.stdout,
      /\d+\/\d+ documents, \d+ chunks, \d+\.\d docs\/s, ETA (\d+[smh]|\d+m\d\ds|\d+h\d\dm|\?), \d+ failed/,
    );

    for (const bad of ['0', '-1', '1.5', '100000', 'abc']) {
      const out = await runs(['throttle', uri, bad]);
      assert.equal(out.code, 1, `throttle ${bad}: ${out.stdout}`);
      assert.equal(out.stderr.trim(), `ingest runs: ${REFUSED}`);
    }
    const throttled = await runs(['throttle', uri, '1']);
    assert.equal(throttled.code, 0, throttled.stderr);
    assert.match(throttled.stdout, /at most 1 document\(s\) at once/);
    assert.equal((await run.progress()).maxInFlight, 1);

    const resumed = await runs(['resume', uri]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /: running, at most 1 document/);
    await progressWhen(run, (p) => p.ingested + p.unchanged > 0, 'a document ingested after resume');

    const cancelled = await runs(['cancel', uri]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    await assert.rejects(run.result(), (err) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    await eventually(
      async () => {
        const out = JSON.parse((await runs(['list', '--json'])).stdout) as RunSummary[];
        return out.find((r) => r.workflowId === run.workflowId && r.status === 'cancelled');
      },
      60_000,
      'the cancelled run in `ingest runs list`',
    );
    const late = await runs(['pause', uri]);
    assert.equal(late.code, 1, 'a closed run refuses controls');
    assert.match(late.stderr, /^ingest runs: /);
  });
});
