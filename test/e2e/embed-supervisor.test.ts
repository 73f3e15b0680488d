import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EmbedServerMismatchError, EmbedServerUnreachableError } from '../../connectors/embedders/pool.ts';
import { registry } from '../../connectors/shared/metrics.ts';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { pipelineRef } from '../../pipeline/ref.ts';
import { loadStackConfig } from '../../infra/config.ts';
import { type EmbedServerProcess, installEmbedServerPython, startEmbedServer } from '../../infra/services/embed-server.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { startWorkers, type RunningWorkers } from '../../workers/worker.ts';
import { eventually } from '../support/stack.ts';
import { Harness } from './support.ts';

// The pool embed worker's supervisor with the real pieces: our embedding server (onnx on the CPU, the real MiniLM
// model), a real Temporal Worker on the stack's Temporal. The server is frozen (SIGSTOP), thawed and killed; the
// supervisor's state and the worker's gauges must follow, and the Worker made after the pause must really take embed
// tasks (a document goes through it). A server frozen in the middle of a document must not hold its requests: the pause
// abandons them and the activity fails at once (retried once the server is back). A kill in the middle of a run is
// test/e2e/embed-pool.test.ts's.

const MODEL = 'sentence-transformers/all-MiniLM-L6-v2';
/** Probes fast enough that a pause follows a freeze within about a second. */
const PROBE = { intervalMs: 250, timeoutMs: 250, failuresToPause: 2 };

/** One sample's value from Prometheus text (summed over its series), NaN when absent. */
async function scrapeSample(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const values = text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .map((l) => Number(l.split(/\s+/).at(-1)));
  return values.length ? values.reduce((a, b) => a + b, 0) : NaN;
}

async function gauge(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = registry.getSingleMetric(name);
  const values = (await m?.get())?.values ?? [];
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe('pool embed worker: health-aware polling', () => {
  const h = new Harness({ embedder: { kind: 'pool', model: MODEL, dims: 384, maxTokens: 256 } });
  let python: string;
  let modelDir: string;
  let server: EmbedServerProcess;
  const frozen: EmbedServerProcess[] = [];
  let workers: RunningWorkers | undefined;
  let ingest: RunningWorkers | undefined;

  before(async () => {
    [python, modelDir] = await Promise.all([installEmbedServerPython(loadStackConfig()), ensureModel()]);
    server = await startEmbedServer({ python, modelDir, args: ['--threads', '1'] });
    await h.start({ workers: false });
  });
  after(async () => {
    await ingest?.shutdown();
    await workers?.shutdown();
    try {
      process.kill(server.pid, 'SIGCONT'); // in case an assertion failed while it was frozen
    } catch {
      // already gone (the test kills it)
    }
    await server.close();
    for (const s of frozen) {
      try {
        process.kill(s.pid, 'SIGCONT');
      } catch {
        // already gone
      }
      await s.close();
    }
    await h.dropIndexes();
    await h.stop();
  });

  it('polls while the server is healthy, pauses while it is frozen or dead, polls again once it is back', async () => {
    workers = await startWorkers(h.workerOptions(['embed'], { embedServer: server.url, embedProbe: PROBE }));
    const sup = workers.embedSupervisor;
    assert.ok(sup, 'a pool embed worker runs under a supervisor');
    const labels = { pipeline: `${h.spec.name}-v${h.spec.version}`, server: server.url };
    assert.equal(sup.state(), 'polling');
    assert.equal(await gauge('ragline_embed_worker_polling', labels), 1);
    // Stays polling while healthy (several probes pass).
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sup.state(), 'polling');
    assert.equal(sup.pauses(), 0);

    process.kill(server.pid, 'SIGSTOP');
    await eventually(async () => (sup.state() === 'paused' ? true : undefined), 15_000, 'a pause for the frozen server');
    assert.equal(sup.pauses(), 1);
    assert.equal(await gauge('ragline_embed_server_up', labels), 0);
    assert.equal(await gauge('ragline_embed_worker_polling', labels), 0);
    assert.equal(await gauge('ragline_embed_worker_pauses_total', labels), 1);
    // Still paused a while later: no flapping while the server stays frozen.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sup.state(), 'paused');
    assert.equal(sup.pauses(), 1);

    process.kill(server.pid, 'SIGCONT');
    await eventually(async () => (sup.state() === 'polling' ? true : undefined), 15_000, 'polling again');
    assert.equal(await gauge('ragline_embed_server_up', labels), 1);
    assert.equal(await gauge('ragline_embed_worker_polling', labels), 1);
    // The new Worker really serves the queue: a document goes through it (the only embed worker of this pipeline).
    ingest = await startWorkers(h.workerOptions(['ingest']));
    await h.put('after-resume.txt', 'A document embedded by the worker that polls again after its server came back.');
    const counts = await h.ingestAll();
    assert.equal(counts.ingested, 1);
    assert.equal((await h.ledger.get(h.spec.tenant, h.uri('after-resume.txt')))?.status, 'ingested');

    process.kill(server.pid, 'SIGKILL');
    await eventually(async () => (sup.state() === 'paused' ? true : undefined), 15_000, 'a pause for the dead server');
    assert.equal(sup.pauses(), 2);
    assert.equal(await gauge('ragline_embed_worker_pauses_total', labels), 2);

    await workers.shutdown();
    assert.equal(sup.state(), 'stopped');
    await workers.done;
    workers = undefined;
  });

  it('abandons the requests a server frozen mid-document holds at the pause, and finishes the document once it is back', async (t) => {
    const s = await startEmbedServer({ python, modelDir, args: ['--threads', '1'] });
    frozen.push(s);
    workers = await startWorkers(h.workerOptions(['embed'], { embedServer: s.url, embedProbe: PROBE }));
    const sup = workers.embedSupervisor!;
    ingest ??= await startWorkers(h.workerOptions(['ingest']));
    // About 350 chunks: tens of requests of 32 inputs, several seconds of work for one CPU thread.
    const key = 'frozen/long.txt';
    const words = Array.from({ length: 6000 }, (_, k) => `term${(k * 7919) % 5003}`).join(' ');
    await h.put(key, `A long document, held by a server that freezes in the middle of it. ${words}.`);
    const run = await h.client.startIngest(`s3://${h.bucket}/frozen/`);
    // Freeze the server once it has run a batch: the document's other requests are in flight or still to be sent.
    await eventually(
      async () => ((await scrapeSample(`${s.url}/metrics`, 'ragline_embed_tokens_total')) > 0 ? true : undefined),
      120_000,
      'the server embedding the document',
    );
    process.kill(s.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    await eventually(async () => (sup.state() === 'paused' ? true : undefined), 15_000, 'a pause for the frozen server');
    const pausedAt = Date.now();

    // The held activity fails on the pause's reason, well inside the Worker's 30 s grace time and the client's 60 s
    // timeout (what it waited for before): the requests were abandoned, not waited out.
    const doc = h.client.temporal.workflow.getHandle(documentWorkflowId(pipelineRef(h.spec), h.uri(key)));
    const failed = await eventually(
      async () => {
        const { raw } = await doc.describe();
        const a = raw.pendingActivities?.find((p) => p.activityType?.name === 'embedChunks');
        return a?.lastFailure?.message ? a : undefined;
      },
      20_000,
      'the embed activity failing on the pause',
    );
    const failedAt = Date.now();
    assert.match(failed.lastFailure!.message!, /embed server .* failed 2 health probes in a row: request abandoned/);
    assert.ok((failed.attempt ?? 0) >= 2, 'the activity is scheduled again');
    t.diagnostic(
      `paused ${pausedAt - frozenAt} ms after the freeze; the activity failed ${failedAt - pausedAt} ms after the pause`,
    );

    process.kill(s.pid, 'SIGCONT');
    const counts = await run.result();
    assert.equal(counts.ingested, 1);
    assert.equal(counts.failed, 0);
    assert.equal(sup.pauses(), 1);
    const record = await h.ledger.get(h.spec.tenant, h.uri(key));
    assert.equal(record?.status, 'ingested');
    // The sink holds exactly the ledger's chunks: none lost to the abandoned requests, none twice.
    const ids = await h.sinkIds(key);
    assert.ok(ids.length > 100, `${ids.length} chunks`);
    assert.deepEqual(ids, [...record!.chunkIds].sort());
    await workers.shutdown();
    workers = undefined;
  });

  it('refuses to start against a server of another model, or against none, before it polls', async () => {
    const other = await startEmbedServer({ python, modelDir, args: ['--threads', '1', '--model-id', 'acme/other-model'] });
    const start = (embedServer: string) => startWorkers(h.workerOptions(['embed'], { embedServer }));
    try {
      await assert.rejects(
        start(other.url),
        (e: unknown) => e instanceof EmbedServerMismatchError && /serves acme\/other-model/.test(e.message),
      );
    } finally {
      await other.close();
    }
    await assert.rejects(start(other.url), EmbedServerUnreachableError);
  });
});
