// `npm run bench:pipeline -- --json [--docs N]`: ingests a generated corpus through the whole pipeline (file source,
// Temporal, a separate worker process, the local CPU model, Chroma) and compares the wall time with the same model
// embedding the same chunks directly, measured in the same run. Prints one JSON object.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRecursiveChunker } from '../connectors/chunkers/recursive.ts';
import { createLocalOnnxEmbedder } from '../connectors/embedders/local-onnx.ts';
import { loadStackConfig } from '../infra/config.ts';
import { validatePipelineSpec } from '../pipeline/spec.ts';
import { ensureModel } from '../scripts/fetch-model.ts';
import { RaglineClient } from '../sdk/client.ts';

const { values: args } = parseArgs({ options: { json: { type: 'boolean' }, docs: { type: 'string', default: '150' } } });
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

function vmHwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

async function startWorker(specFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'worker'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
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

const dir = mkdtempSync(join(tmpdir(), 'ragline-bench-'));
try {
  const docsDir = join(dir, 'docs');
  mkdirSync(docsDir);
  const docs = corpus(Number(args.docs));
  docs.forEach((text, i) => writeFileSync(join(docsDir, `doc-${String(i).padStart(4, '0')}.txt`), text));
  const spec = validatePipelineSpec({
    name: `bench-${Date.now().toString(36)}`,
    version: 1,
    tenant: 'bench',
    chunker: { kind: 'recursive', chunkSize: 240, chunkOverlap: 24 },
    embedder: { kind: 'local-onnx' },
    sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
    blobStore: { kind: 'local-dir', root: join(dir, 'blobs') },
    ledger: { kind: 'sqlite', path: join(dir, 'ledger.sqlite') },
    concurrency: { documents: 8, pageSize: 100 },
  });
  const specFile = join(dir, 'pipeline.json');
  writeFileSync(specFile, JSON.stringify(spec));

  const worker = await startWorker(specFile);
  const client = await RaglineClient.connect({
    address: `127.0.0.1:${stack.ports.temporal}`,
    namespace: stack.temporalNamespace,
    spec,
  });
  const t0 = performance.now();
  const counts = await (await client.startIngest(new URL(`file://${docsDir}/`).href)).result();
  const seconds = (performance.now() - t0) / 1000;
  const peakRss = vmHwmMb(worker.pid!);
  await client.close();
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));

  // The same chunks, embedded by the same model without the pipeline.
  const modelDir = await ensureModel();
  const embedder = await createLocalOnnxEmbedder({ modelDir, maxBatchTokens: spec.embedder.maxBatchTokens });
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
  for (let i = 0; i < texts.length; i += spec.embedder.batchSize)
    await embedder.embedDocuments(texts.slice(i, i + spec.embedder.batchSize));
  const embedOnly = (performance.now() - t1) / 1000;
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
    failed: counts.failed,
  };
  if (counts.chunks !== texts.length)
    throw new Error(`pipeline wrote ${counts.chunks} chunks, the direct chunking gives ${texts.length}`);
  console.log(args.json ? JSON.stringify(result) : result);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
