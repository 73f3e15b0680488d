// `npm run bench:rerank -- --json [--model-dir DIR] [--queries N] [--max-batch-tokens T] [--threads K]`: per-query
// rerank latency (p50/p95) for k = 20, 50 and 100 candidates, and pairs/s, for the local CPU cross-encoder, measured
// through the reranker's own code (tokenising pairs, padding, batching, onnxruntime, the head).
// The model is the folder given by --model-dir or RAGLINE_RERANKER_DIR (with reranker.json). Without one (no registry
// package ships cross-encoder weights, so the bootstrap installs none), the benchmark runs a sizing proxy and says so
// in its output: the local embedder's all-MiniLM-L6-v2 int8 encoder run on the same (query, passage) pairs through
// the same pair encoder and runner. ms-marco-MiniLM-L-6-v2 has the same architecture (6 layers, 384 wide, BERT
// uncased vocabulary, 512 positions) and differs only by a one-unit head, so the timing is that of an int8
// ms-marco-MiniLM-L-6-v2; its scores mean nothing and are discarded.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { planBatches } from '../connectors/embedders/local-onnx.ts';
import { createLocalOnnxReranker, createPairEncoder, createPairRunner } from '../connectors/rerankers/local-onnx.ts';
import { RERANKER_MANIFEST_FILE } from '../connectors/rerankers/model-files.ts';
import { ensureModel } from '../scripts/fetch-model.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    'model-dir': { type: 'string' },
    // Timed queries per k (after one warm-up query).
    queries: { type: 'string', default: '10' },
    'max-batch-tokens': { type: 'string', default: '4096' },
    threads: { type: 'string', default: '0' },
  },
});
const queries = Number(args.queries);
const maxBatchTokens = Number(args['max-batch-tokens']);
const threads = Number(args.threads);
for (const [k, v] of Object.entries({ queries, maxBatchTokens })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}
const KS = [20, 50, 100];
const WINDOW = 512;

/** Chunk-like passages of 1 to 12 sentences from the sample corpus, and short queries, in a fixed pseudo-random order. */
function corpus(n: number): { passages: string[]; queries: string[] } {
  const dir = join(import.meta.dirname, '..', 'samples', 'corpus');
  const sentences = readdirSync(dir)
    .filter((f) => /\.(md|txt)$/.test(f))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split(/(?<=\.)\s+/))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length > 20);
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = () => sentences[Math.floor(rnd() * sentences.length)]!;
  return {
    passages: Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(rnd() * 12) }, pick).join(' ')),
    queries: Array.from({ length: 64 }, () =>
      pick()
        .split(' ')
        .slice(0, 4 + Math.floor(rnd() * 8))
        .join(' '),
    ),
  };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

interface Scorer {
  model: string;
  proxy: boolean;
  window: number;
  /** The timed work; returns the onnxruntime runs it took. */
  score(query: string, passages: string[]): Promise<number>;
  /** Tokens of the pairs as the model sees them (after truncation), outside the timing. */
  tokens(query: string, passages: string[]): Promise<number>;
  close(): Promise<void>;
}

async function realScorer(dir: string): Promise<Scorer> {
  const r = await createLocalOnnxReranker({ modelDir: dir, maxBatchTokens, threads });
  const encoder = await createPairEncoder(
    join(dir, JSON.parse(readFileSync(join(dir, RERANKER_MANIFEST_FILE), 'utf8')).tokenizerFile ?? 'tokenizer.json'),
    r.maxTokens,
  );
  return {
    model: r.model,
    proxy: false,
    window: r.maxTokens,
    async score(query, passages) {
      const runs = r.stats.runs;
      await r.rerank(query, passages);
      return r.stats.runs - runs;
    },
    tokens: async (query, passages) => (await encoder.encode(query, passages)).reduce((s, p) => s + p.ids.length, 0),
    close: () => r.close(),
  };
}

async function proxyScorer(): Promise<Scorer> {
  const dir = await ensureModel();
  const encoder = await createPairEncoder(join(dir, 'tokenizer.json'), WINDOW);
  const runner = await createPairRunner(join(dir, 'model.onnx'), { threads, spin: false });
  return {
    model: 'proxy: all-minilm-l6-v2-int8 encoder (ms-marco-MiniLM-L-6-v2 architecture, no head)',
    proxy: true,
    window: WINDOW,
    async score(query, passages) {
      const pairs = await encoder.encode(query, passages);
      let runs = 0;
      for (const { members, len } of planBatches(
        pairs.map((p) => p.ids.length),
        maxBatchTokens,
      )) {
        await runner.run(
          members.map((i) => pairs[i]!),
          len,
        );
        runs++;
      }
      return runs;
    },
    tokens: async (query, passages) => (await encoder.encode(query, passages)).reduce((s, p) => s + p.ids.length, 0),
    close: () => runner.release(),
  };
}

const modelDir = args['model-dir'] ?? process.env.RAGLINE_RERANKER_DIR;
if (args['model-dir'] && !existsSync(join(args['model-dir'], RERANKER_MANIFEST_FILE))) {
  throw new Error(`--model-dir ${args['model-dir']} has no ${RERANKER_MANIFEST_FILE}`);
}
const scorer = modelDir && existsSync(join(modelDir, RERANKER_MANIFEST_FILE)) ? await realScorer(modelDir) : await proxyScorer();
const data = corpus(Math.max(...KS) * 4);
let q = 0;
const perK = [];
let allPairs = 0;
let allMs = 0;
let allRuns = 0;
let allTokens = 0;
try {
  await scorer.score(data.queries[0]!, data.passages.slice(0, 20));
  for (const k of KS) {
    const times: number[] = [];
    let pairs = 0;
    for (let i = 0; i < queries; i++) {
      const query = data.queries[q++ % data.queries.length]!;
      const start = (i * k) % (data.passages.length - k);
      const passages = data.passages.slice(start, start + k);
      const t0 = performance.now();
      allRuns += await scorer.score(query, passages);
      times.push(performance.now() - t0);
      pairs += k;
      allTokens += await scorer.tokens(query, passages);
    }
    const total = times.reduce((s, t) => s + t, 0);
    allPairs += pairs;
    allMs += total;
    perK.push({
      k,
      queries,
      p50Ms: Math.round(quantile(times, 0.5)),
      p95Ms: Math.round(quantile(times, 0.95)),
      pairsPerSec: Math.round((pairs / total) * 1000),
    });
  }
} finally {
  await scorer.close();
}

const result = {
  model: scorer.model,
  proxy: scorer.proxy,
  device: 'cpu',
  cores: availableParallelism(),
  threads: threads || 'onnxruntime default',
  windowTokens: scorer.window,
  maxBatchTokens,
  pairs: allPairs,
  meanPairTokens: Math.round(allTokens / allPairs),
  meanPairsPerRun: Number((allPairs / allRuns).toFixed(1)),
  latency: perK,
  pairsPerSec: Math.round((allPairs / allMs) * 1000),
};
if (args.json) console.log(JSON.stringify(result));
else {
  console.log(`${result.model} on ${result.cores} cores, ${result.pairs} pairs of ${result.meanPairTokens} tokens on average`);
  for (const r of perK) console.log(`k=${r.k}: p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms, ${r.pairsPerSec} pairs/s`);
  console.log(`overall ${result.pairsPerSec} pairs/s, ${result.meanPairsPerRun} pairs per onnxruntime run`);
}
