// `npm run bench:pipeline -- --json [--docs N]`: ingests a generated corpus through the whole pipeline (file source,
// Temporal, a separate worker process, the local CPU model, Chroma) and compares the wall time with the same model
// embedding the same chunks directly, measured in the same run, and counts the run's Temporal Actions per document (as
// Temporal Cloud bills them). Prints one JSON object.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRecursiveChunker } from '../connectors/chunkers/recursive.ts';
import { createLocalOnnxEmbedder } from '../connectors/embedders/local-onnx.ts';
import { loadStackConfig } from '../infra/config.ts';
import { indexAlias, indexName, validatePipelineSpec, type PipelineSpec } from '../pipeline/spec.ts';
import { makePdf } from '../samples/make-samples.ts';
import { ensureModel } from '../scripts/fetch-model.ts';
import { RaglineClient } from '../sdk/client.ts';
import { workflowBundlePath } from '../workers/bundle.ts';
import { actionsOfRuns, addActionCounts, emptyActionCounts, heartbeatsReceived, totalActions } from './temporal-actions.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    docs: { type: 'string', default: '150' },
    big: { type: 'boolean' },
    /** Caps the worker's V8 heap (--max-old-space-size), as a memory-conscious deployment would. */
    'worker-heap-mb': { type: 'string' },
    'max-batch-tokens': { type: 'string', default: '512' },
    /** Run the ingest and embed workers as two processes (as a GPU deployment does) and report each one's peak. */
    'split-roles': { type: 'boolean' },
    /** Which big documents the memory run ingests: text, pdf or both (default). */
    'big-docs': { type: 'string' },
    /**
     * The memory run's embedder: `hash` (default; the run completes in minutes) or `local`, the embedded default's
     * model (50M tokens: hours on a CPU; useful for watching the combined worker's peak while it runs).
     */
    'big-embedder': { type: 'string', default: 'hash' },
    /** Extra Node options for the worker processes (e.g. `--heap-prof`), added to NODE_OPTIONS. */
    'worker-node-options': { type: 'string' },
    /** Also print each worker's RSS every few seconds (to stderr), to tell the idle baseline from per-document growth. */
    trace: { type: 'boolean' },
  },
});
const root = join(import.meta.dirname, '..');
const stack = loadStackConfig();

/** Prose documents assembled from the sample corpus's sentences, in a fixed pseudo-random order. */
function corpus(n: number): string[] {
  const sentences = readdirSync(join(root, 'samples', 'corpus'))
    .filter((f) => /\.(md|txt)$/.test(f))
    .flatMap((f) => readFileSync(join(root, 'samples', 'corpus', f), 'utf8').split(/(?<=\.)\s+/))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length > 20);
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, (_, d) => {
    const paras = Array.from({ length: 3 + Math.floor(rnd() * 6) }, () =>
      Array.from({ length: 3 + Math.floor(rnd() * 5) }, () => sentences[Math.floor(rnd() * sentences.length)]).join(' '),
    );
    return `Document ${d}\n\n${paras.join('\n\n')}\n`;
  });
}

function procStatusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}
const vmHwmMb = (pid: number): number => procStatusMb(pid, 'VmHWM');

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return 0;
  }
}

/** The pid of a local-stack service from its pid file, if this checkout's stack runs it. */
function servicePid(name: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(stack.dataDir, 'run', `${name}.pid`), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

function workerEnv(): NodeJS.ProcessEnv {
  const opts = [
    process.env.NODE_OPTIONS,
    args['worker-heap-mb'] && `--max-old-space-size=${args['worker-heap-mb']}`,
    args['worker-node-options'],
  ].filter(Boolean);
  return opts.length ? { ...process.env, NODE_OPTIONS: opts.join(' ') } : process.env;
}

async function startWorker(specFile: string, role = 'all'): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'worker', '--role', role], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: workerEnv(),
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('is polling')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${err}`)));
  });
  return child;
}

/** Drops the bench's collections so runs do not pile up in Chroma (a large store slows every later upsert). */
async function dropCollection(spec: PipelineSpec): Promise<void> {
  const base = `http://127.0.0.1:${stack.ports.chroma}/api/v2/tenants/default_tenant/databases/default_database/collections`;
  // The version's index and the alias pointer beside it.
  for (const name of [indexName(spec), indexAlias(spec)]) {
    await fetch(`${base}/${encodeURIComponent(name)}`, { method: 'DELETE' }).catch(() => undefined);
  }
}

/** Runs a source ingest against a separate worker process; returns the counts, wall time and the worker's peak RSS. */
/**
 * The run's Temporal Actions, as Temporal Cloud would bill them (bench/temporal-actions.ts): every run of this
 * pipeline's workflows, from their histories, plus the heartbeats the server received during the run (the run is the
 * namespace's only user in a bench; undefined when the stack's Temporal metrics are not reachable). Queries are not
 * counted (this bench sends none).
 */
async function temporalActions(client: RaglineClient, spec: PipelineSpec, documents: number, heartbeats: number | undefined) {
  const query = `Pipeline = "${spec.name}-v${spec.version}"`;
  // Visibility follows the histories by a moment: wait until every document's run is listed.
  let found = await actionsOfRuns(client.temporal, query);
  for (let i = 0; i < 50 && (found.byWorkflow.documentWorkflow?.workflowsStarted ?? 0) < documents; i++) {
    await new Promise((r) => setTimeout(r, 200));
    found = await actionsOfRuns(client.temporal, query);
  }
  const kinds = Object.values(found.byWorkflow).reduce(addActionCounts, emptyActionCounts());
  const total = totalActions(kinds) + (heartbeats ?? 0);
  return {
    per_document: +(total / Math.max(1, documents)).toFixed(2),
    total,
    heartbeats: heartbeats ?? null,
    by_kind: kinds,
    by_workflow: Object.fromEntries(Object.entries(found.byWorkflow).map(([type, c]) => [type, totalActions(c)])),
    runs: found.runs,
  };
}

async function runPipeline(spec: PipelineSpec, specFile: string, docsDir: string) {
  const workers = args['split-roles']
    ? [await startWorker(specFile, 'ingest'), await startWorker(specFile, 'embed')]
    : [await startWorker(specFile)];
  // RSS once the worker polls (modules, model, connections): the baseline that per-document growth adds to.
  const idle = workers.map((w) => procStatusMb(w.pid!, 'VmRSS'));
  // Where the run's CPU time goes: on a small host the pipeline's own infrastructure shares the cores with the model.
  const services = ['temporal', 'chroma'].flatMap((name) => {
    const pid = servicePid(name);
    return pid === undefined ? [] : [{ name, pid }];
  });
  const cpu0 = [...workers.map((w) => cpuSeconds(w.pid!)), ...services.map((s) => cpuSeconds(s.pid))];
  const t0 = performance.now();
  const trace = args.trace
    ? setInterval(() => {
        const rss = workers.map((w) => procStatusMb(w.pid!, 'VmRSS'));
        console.error(`[rss] t=${((performance.now() - t0) / 1000).toFixed(0)}s ${rss.join(' ')} MB`);
      }, 3000)
    : undefined;
  const client = await RaglineClient.connect({
    address: `127.0.0.1:${stack.ports.temporal}`,
    namespace: stack.temporalNamespace,
    spec,
  });
  const heartbeatsUrl = `http://127.0.0.1:${stack.ports.temporalMetrics}/metrics`;
  const heartbeats0 = await heartbeatsReceived(heartbeatsUrl, stack.temporalNamespace);
  try {
    const counts = await (await client.startIngest(new URL(`file://${docsDir}/`).href)).result();
    const seconds = (performance.now() - t0) / 1000;
    const heartbeats1 = await heartbeatsReceived(heartbeatsUrl, stack.temporalNamespace);
    const peaks = workers.map((w) => vmHwmMb(w.pid!));
    const used = [...workers.map((w) => cpuSeconds(w.pid!)), ...services.map((s) => cpuSeconds(s.pid))].map(
      (c, i) => +(c - cpu0[i]!).toFixed(1),
    );
    const cpu: Record<string, number> = {};
    workers.forEach((_, i) => (cpu[workers.length > 1 ? `worker_${i === 0 ? 'ingest' : 'embed'}` : 'worker'] = used[i]!));
    services.forEach((s, i) => (cpu[s.name] = used[workers.length + i]!));
    // Per process when the roles run apart; the peak over all of them is reported as peak_rss_mb either way.
    const memory =
      peaks.length > 1
        ? { peak_rss_mb_ingest: peaks[0], peak_rss_mb_embed: peaks[1], idle_rss_mb_ingest: idle[0], idle_rss_mb_embed: idle[1] }
        : { idle_rss_mb: idle[0] };
    const heartbeats = heartbeats0 !== undefined && heartbeats1 !== undefined ? heartbeats1 - heartbeats0 : undefined;
    const actions = await temporalActions(client, spec, counts.listed, heartbeats);
    return { counts, seconds, peakRss: Math.max(...peaks), memory, cpu, actions };
  } finally {
    clearInterval(trace);
    await client.close();
    for (const w of workers) {
      w.kill('SIGTERM');
      await new Promise((r) => w.once('exit', r));
    }
    await dropCollection(spec);
  }
}

/**
 * The memory run: a 200 MB text document and a 50 MB PDF through the same pipeline. It embeds with the hash embedder:
 * the local model would need hours of CPU for 50M tokens, and its memory does not grow with the document (it sees one
 * batch at a time), so this run measures what does: parsing, chunking, the artifact files and the sink writes.
 */
async function bigRun(dir: string): Promise<Record<string, unknown>> {
  const docsDir = join(dir, 'big-docs');
  mkdirSync(docsDir);
  const prose = corpus(64).join('\n');
  const which = (args['big-docs'] ?? 'text,pdf').split(',');
  if (which.includes('text')) {
    const fd = openSync(join(docsDir, 'large.txt'), 'w');
    for (let written = 0; written < 200 * 1024 * 1024; written += Buffer.byteLength(prose)) writeSync(fd, prose);
    closeSync(fd);
  }
  if (which.includes('pdf')) {
    const lines = prose.split(/(?<=\.) /).map((l) => l.slice(0, 90));
    const pages = Array.from({ length: 12_000 }, (_, p) =>
      Array.from({ length: 48 }, (_, k) => lines[(p * 48 + k) % lines.length]!),
    );
    writeFileSync(join(docsDir, 'large.pdf'), makePdf('Large', pages));
  }
  const sizes = readdirSync(docsDir).map((f) => statSync(join(docsDir, f)).size);
  const spec = validatePipelineSpec({
    name: `bench-big-${Date.now().toString(36)}`,
    version: 1,
    tenant: 'bench',
    parser: { maxBytes: 512 * 1024 * 1024, maxChars: 512 * 1024 * 1024, maxPages: 20_000 },
    chunker: { kind: 'recursive', chunkSize: 240, chunkOverlap: 24 },
    embedder: args['big-embedder'] === 'local' ? { kind: 'local-onnx' } : { kind: 'hash' },
    sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
    blobStore: { kind: 'local-dir', root: join(dir, 'big-blobs') },
    ledger: { kind: 'sqlite', path: join(dir, 'big-ledger.sqlite') },
  });
  const specFile = join(dir, 'big-pipeline.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const { counts, seconds, peakRss, memory, cpu } = await runPipeline(spec, specFile, docsDir);
  return {
    cpu_seconds: cpu,
    ...memory,
    run: 'big',
    embedder: spec.embedder.kind,
    docs: counts.ingested,
    failed: counts.failed,
    mb: +(sizes.reduce((a, b) => a + b, 0) / 1048576).toFixed(1),
    chunks: counts.chunks,
    seconds: +seconds.toFixed(1),
    peak_rss_mb: peakRss,
  };
}

/** The throughput run: the generated corpus through the pipeline with the local model, against embedding alone. */
async function normalRun(dir: string): Promise<Record<string, unknown>> {
  const docsDir = join(dir, 'docs');
  mkdirSync(docsDir);
  const docs = corpus(Number(args.docs));
  docs.forEach((text, i) => writeFileSync(join(docsDir, `doc-${String(i).padStart(4, '0')}.txt`), text));
  const spec = validatePipelineSpec({
    name: `bench-${Date.now().toString(36)}`,
    version: 1,
    tenant: 'bench',
    chunker: { kind: 'recursive', chunkSize: 240, chunkOverlap: 24 },
    embedder: { kind: 'local-onnx', maxBatchTokens: Number(args['max-batch-tokens']) },
    sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
    blobStore: { kind: 'local-dir', root: join(dir, 'blobs') },
    ledger: { kind: 'sqlite', path: join(dir, 'ledger.sqlite') },
    concurrency: { documents: 8, pageSize: 100 },
  });
  const specFile = join(dir, 'pipeline.json');
  writeFileSync(specFile, JSON.stringify(spec));

  const { counts, seconds, peakRss, memory, cpu, actions } = await runPipeline(spec, specFile, docsDir);

  // The same chunks, embedded by the same model without the pipeline.
  const modelDir = await ensureModel();
  const embedder = await createLocalOnnxEmbedder({
    modelDir,
    maxBatchTokens: spec.embedder.kind === 'local-onnx' ? spec.embedder.maxBatchTokens : 1024,
  });
  const chunker = createRecursiveChunker({ chunkSize: 240, chunkOverlap: 24 }, embedder.tokenCounter);
  const texts: string[] = [];
  let tokens = 0;
  for (const d of docs) {
    for await (const c of chunker.chunk(
      (async function* () {
        yield d;
      })(),
    )) {
      texts.push(c.text);
      tokens += c.tokens;
    }
  }
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  for (let i = 0; i < texts.length; i += spec.embedder.batchSize)
    await embedder.embedDocuments(texts.slice(i, i + spec.embedder.batchSize));
  const embedOnly = (performance.now() - t1) / 1000;
  const c2 = process.cpuUsage(c1);
  const embedOnlyCpu = (c2.user + c2.system) / 1e6;
  const workerCpu = Object.entries(cpu)
    .filter(([k]) => k.startsWith('worker'))
    .reduce((a, [, v]) => a + v, 0);
  await embedder.close();

  const result = {
    docs: counts.ingested,
    chunks: counts.chunks,
    tokens,
    seconds: +seconds.toFixed(2),
    docs_per_s: +(counts.ingested / seconds).toFixed(2),
    tokens_per_s: Math.round(tokens / seconds),
    embed_only_seconds: +embedOnly.toFixed(2),
    overhead_ratio: +(seconds / embedOnly).toFixed(3),
    peak_rss_mb: peakRss,
    ...memory,
    cpu_seconds: cpu,
    embed_only_cpu_seconds: +embedOnlyCpu.toFixed(1),
    // The workers' CPU over the model's own: the pipeline's overhead where Temporal and the sink run on other hosts.
    worker_cpu_ratio: +(workerCpu / embedOnlyCpu).toFixed(3),
    cores: availableParallelism(),
    failed: counts.failed,
    temporal_actions: actions,
  };
  if (counts.chunks !== texts.length)
    throw new Error(`pipeline wrote ${counts.chunks} chunks, the direct chunking gives ${texts.length}`);
  return result;
}

const dir = mkdtempSync(join(tmpdir(), 'ragline-bench-'));
try {
  // Built here, once, so no worker bundles with webpack at start (a few hundred MB of peak that is no document's).
  await workflowBundlePath(stack.cacheDir);
  // `--docs 0 --big` runs only the memory run.
  if (Number(args.docs) > 0) {
    const result = await normalRun(dir);
    console.log(args.json ? JSON.stringify(result) : result);
  }
  if (args.big) {
    const big = await bigRun(dir);
    console.log(args.json ? JSON.stringify(big) : big);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
