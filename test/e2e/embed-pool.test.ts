import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChromaClient } from 'chromadb';
import { createLocalOnnxEmbedder } from '../../connectors/embedders/local-onnx.ts';
import { loadStackConfig } from '../../infra/config.ts';
import { type EmbedServerProcess, installEmbedServerPython, startEmbedServer } from '../../infra/services/embed-server.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { startWorkers, type RunningWorkers } from '../../workers/worker.ts';
import { startCliProcess, stopProcess } from '../support/cli-process.ts';
import { eventually, stack } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

// The GPU pool's shape on the CPU: two of our embedding servers (onnx, the real MiniLM model), each with its own
// `ingest worker --role embed --embed-server URL` process, and one ingest worker. The spec says only `kind: pool` and
// the model. One server is SIGKILLed in the middle of a run: its worker must stop polling (and take no more embed
// tasks), the other server must finish the run, and the sink must hold exactly the ledger's chunks, with the vectors
// the model gives locally.

const MODEL = 'sentence-transformers/all-MiniLM-L6-v2';
const DOCS = 40;
const key = (i: number) => `pool/doc-${String(i).padStart(2, '0')}.txt`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** One sample's value from Prometheus text (summed over the series matching every `labels` pair). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) continue;
    sum += Number(m[3]);
    found = true;
  }
  return found ? sum : NaN;
}
const scrape = async (url: string) => (await fetch(url)).text();

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

interface EmbedWorker {
  child: ChildProcess;
  stderr: string[];
  metrics: string;
  sdkMetrics: string;
}

describe('GPU pool on the CPU: two servers, two embed workers, one server killed mid-run', () => {
  const h = new Harness({
    embedder: { kind: 'pool', model: MODEL, dims: 384, maxTokens: 256, batchSize: 16 },
    chunker: { kind: 'recursive', chunkSize: 48, chunkOverlap: 8 },
    concurrency: { documents: 6, pageSize: 50 },
  });
  let python: string;
  let modelDir: string;
  let specFile: string;
  const servers: EmbedServerProcess[] = [];
  const embedWorkers: EmbedWorker[] = [];
  let ingest: RunningWorkers | undefined;

  async function startEmbedWorker(server: string): Promise<EmbedWorker> {
    const [port, sdkPort] = [await freePort(), await freePort()];
    const stderr: string[] = [];
    const child = await startCliProcess(
      [
        '--pipeline',
        specFile,
        'worker',
        '--role',
        'embed',
        '--embed-server',
        server,
        '--embed-probe-interval',
        '250',
        '--metrics-port',
        String(port),
        '--sdk-metrics-port',
        String(sdkPort),
      ],
      'is polling',
      cliEnv(),
      (t) => stderr.push(t),
    );
    const w = {
      child,
      stderr,
      metrics: `http://127.0.0.1:${port}/metrics`,
      sdkMetrics: `http://127.0.0.1:${sdkPort}/metrics`,
    };
    embedWorkers.push(w);
    return w;
  }

  before(async () => {
    [python, modelDir] = await Promise.all([installEmbedServerPython(loadStackConfig()), ensureModel()]);
    servers.push(...(await Promise.all([0, 1].map(() => startEmbedServer({ python, modelDir, args: ['--threads', '1'] })))));
    await h.start({ workers: false });
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    for (let i = 0; i < DOCS; i++) {
      const words = Array.from({ length: 60 + (i % 5) * 40 }, (_, k) => `term${(i * 37 + k * 11) % 613}`).join(' ');
      await h.put(key(i), `Document ${i} about topic ${i % 7}. ${words}.`);
    }
  });
  after(async () => {
    await ingest?.shutdown();
    for (const w of embedWorkers) await stopProcess(w.child, 'SIGKILL');
    for (const s of servers) await s.close();
    await h.dropIndexes();
    await h.stop();
  });

  it('ingests every document once, from the surviving server, with the local model’s vectors', async (t) => {
    const [a, b] = (await Promise.all(servers.map((s) => startEmbedWorker(s.url)))) as [EmbedWorker, EmbedWorker];
    ingest = await startWorkers(h.workerOptions(['ingest']));
    const handle = await h.client.startIngest(`s3://${h.bucket}/`);

    // Kill server A once both servers have embedded something and the run is well under way, not over.
    let seen = 0;
    const target = 8 + Math.floor(Math.random() * 8);
    await eventually(
      async () => {
        seen = (await handle.progress().catch(() => undefined))?.ingested ?? seen;
        if (seen < target) return undefined;
        const tokens = await Promise.all(
          servers.map(async (s) => sample(await scrape(`${s.url}/metrics`), 'ragline_embed_tokens_total')),
        );
        return tokens.every((t) => t > 0) ? true : undefined;
      },
      120_000,
      'both servers embedding and some documents ingested',
    );
    process.kill(servers[0]!.pid, 'SIGKILL');
    const killedAt = Date.now();
    assert.ok(seen < DOCS, `the kill happened mid-run (after ${seen} of ${DOCS} documents)`);
    // Worker A probes every 250 ms and pauses after 2 failures: 2 s on, it takes no more tasks. Its failed attempts
    // (the Temporal SDK's own count: the activities it held, and any it took before it noticed) stop growing.
    await new Promise((r) => setTimeout(r, 2000));
    const failed = async () => sample(await scrape(a.sdkMetrics), 'temporal_activity_execution_failed') || 0;
    const failedSoonAfter = await failed();
    const left = DOCS - ((await handle.progress().catch(() => undefined))?.ingested ?? 0);

    const counts = await handle.result();
    const runAfterKillMs = Date.now() - killedAt;
    assert.equal(counts.listed, DOCS);
    assert.equal(counts.failed, 0);
    assert.equal(counts.ingested, DOCS);
    const failedAtEnd = await failed();
    t.diagnostic(
      `killed after ${seen} documents; ${left} left 2 s later; A failed ${failedSoonAfter} attempts by then, ` +
        `${failedAtEnd} in all; the run ended ${runAfterKillMs} ms after the kill`,
    );
    assert.equal(failedAtEnd, failedSoonAfter, 'worker A took no embed task once its server was gone');

    // It says so: paused, server down, one pause, and the process stays up waiting for its server.
    const aMetrics = await scrape(a.metrics);
    assert.equal(a.child.exitCode, null, 'worker A is still running');
    assert.match(a.stderr.join(''), /stopped polling: its server fails \/health/);
    assert.equal(sample(aMetrics, 'ragline_embed_worker_polling'), 0);
    assert.equal(sample(aMetrics, 'ragline_embed_server_up'), 0);
    assert.equal(sample(aMetrics, 'ragline_embed_worker_pauses_total'), 1);
    const bMetrics = await scrape(b.metrics);
    assert.equal(sample(bMetrics, 'ragline_embed_worker_polling'), 1);
    assert.equal(sample(bMetrics, 'ragline_embed_worker_pauses_total'), 0);

    // SIGTERM drains and exits cleanly, polling (B) or paused for its server (A, which holds no Temporal Worker).
    for (const w of [a, b]) {
      const exited = new Promise<number | null>((r) => w.child.once('exit', (code) => r(code)));
      process.kill(-w.child.pid!, 'SIGTERM');
      assert.equal(await within(exited, 30_000, 'exit after SIGTERM'), 0);
    }

    // Exactly the ledger's chunks in the sink: nothing lost, nothing twice.
    let expected = 0;
    for (let i = 0; i < DOCS; i++) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(key(i)));
      assert.equal(rec?.status, 'ingested', key(i));
      assert.deepEqual(await h.sinkIds(key(i)), [...rec.chunkIds].sort(), key(i));
      expected += rec.chunkIds.length;
    }
    assert.equal(await h.sink.count(h.index, { tenant: h.spec.tenant }), expected, 'no duplicates, nothing missing');
    assert.ok(expected > DOCS, `documents of several chunks (${expected} chunks)`);

    // The stored vectors are the model's: the same text through the local ONNX embedder.
    const chroma = new ChromaClient({ host: '127.0.0.1', port: stack.ports.chroma, ssl: false });
    const col = await chroma.getCollection({ name: h.index });
    const rows = await col.get({ where: { tenant: h.spec.tenant }, include: ['embeddings', 'documents'], limit: expected + 10 });
    assert.equal(rows.ids.length, expected);
    const local = await createLocalOnnxEmbedder({ modelDir });
    try {
      const texts = rows.documents.map((d) => d ?? '');
      const want = await local.embedDocuments(texts);
      let worst = 1;
      rows.embeddings.forEach((got, i) => (worst = Math.min(worst, cosine(got, want[i]!))));
      t.diagnostic(`${expected} chunks; worst cosine against the local model ${worst}`);
      assert.ok(worst >= 0.999, `every stored vector matches the local model's (worst cosine ${worst})`);
    } finally {
      await local.close();
    }
  });

  it('refuses to start an embed worker whose server serves another model', async () => {
    const other = await startEmbedServer({ python, modelDir, args: ['--threads', '1', '--model-id', 'acme/other-model'] });
    servers.push(other);
    const child = spawn(
      process.execPath,
      [
        join(import.meta.dirname, '..', '..', 'cli', 'ingest.ts'),
        '--pipeline',
        specFile,
        'worker',
        '--role',
        'embed',
        '--embed-server',
        other.url,
        '--metrics-port',
        'off',
      ],
      { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await within(
      new Promise<number | null>((r) => child.once('exit', (c) => r(c))),
      60_000,
      'the refused worker to exit',
    ).finally(() => child.exitCode === null && child.kill('SIGKILL'));
    assert.notEqual(code, 0, err);
    assert.match(err, /serves acme\/other-model, but the pipeline embeds with sentence-transformers\/all-MiniLM-L6-v2/);
    assert.doesNotMatch(err, /is polling/);
  });
});
