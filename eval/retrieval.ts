// Retrieval evaluation on a BEIR-format dataset: chunk and embed the corpus with each chunking strategy, rank
// documents by their best chunk, print nDCG@10 and recall@10 per strategy.
//
//   node eval/retrieval.ts --dataset eval/datasets/ragline-mini --json [--chunkers naive,late,meta] [--chunk-size 64]
//     [--chunk-overlap 0] [--split test] [--model-dir DIR]
//
// One JSON line per strategy: { "chunker", "ndcg@10", "recall@10", "docs", "queries", "chunks" }. Progress goes to
// stderr. As in BEIR, a document whose id equals the query's id is never returned for it. `meta` runs the local
// language model over every document (fetched on first use; ~85 s on the bundled set with 2 cores): on a large public
// set, pick `--chunkers naive,late` first.
import { parseArgs } from 'node:util';
import { createLocalOnnxEmbedder, type LocalOnnxEmbedder } from '../connectors/embedders/local-onnx.ts';
import { ensureModel } from '../scripts/fetch-model.ts';
import { type BeirDataset, loadBeir } from './beir.ts';
import { evaluate } from './metrics.ts';
import { STRATEGIES, type StrategyContext } from './strategies.ts';

const K = 10;

export interface EvalOptions {
  dataset: string;
  chunkers: string[];
  chunkSize: number;
  chunkOverlap: number;
  split?: string;
  modelDir?: string;
  onProgress?: (line: string) => void;
}

export interface EvalResult {
  chunker: string;
  'ndcg@10': number;
  'recall@10': number;
  docs: number;
  queries: number;
  chunks: number;
}

/** Documents ranked by their best chunk's cosine with the query, best first, ties by id. */
function rank(
  query: Float32Array,
  matrix: Float32Array,
  owner: Int32Array,
  docIds: string[],
  dims: number,
  skipId: string,
): string[] {
  const best = new Float64Array(docIds.length).fill(-Infinity);
  for (let c = 0; c < owner.length; c++) {
    let s = 0;
    const base = c * dims;
    for (let d = 0; d < dims; d++) s += query[d]! * matrix[base + d]!;
    const doc = owner[c]!;
    if (s > best[doc]!) best[doc] = s;
  }
  const order: number[] = [];
  for (let i = 0; i < docIds.length; i++) if (best[i]! > -Infinity && docIds[i] !== skipId) order.push(i);
  order.sort((a, b) => best[b]! - best[a]! || (docIds[a]! < docIds[b]! ? -1 : 1));
  return order.slice(0, K).map((i) => docIds[i]!);
}

async function embedCorpus(
  ds: BeirDataset,
  embedDocument: (t: string) => Promise<Float32Array[]>,
  dims: number,
  progress: (s: string) => void,
) {
  const vectors: Float32Array[] = [];
  const owners: number[] = [];
  for (let i = 0; i < ds.docs.length; i++) {
    for (const v of await embedDocument(ds.docs[i]!.text)) {
      vectors.push(v);
      owners.push(i);
    }
    if ((i + 1) % 500 === 0) progress(`${i + 1}/${ds.docs.length} documents`);
  }
  const matrix = new Float32Array(vectors.length * dims);
  vectors.forEach((v, i) => matrix.set(v, i * dims));
  return { matrix, owner: Int32Array.from(owners) };
}

export async function runRetrievalEval(opts: EvalOptions): Promise<EvalResult[]> {
  const progress = opts.onProgress ?? (() => {});
  for (const name of opts.chunkers) {
    if (!STRATEGIES[name]) throw new Error(`unknown chunker "${name}" (known: ${Object.keys(STRATEGIES).join(', ')})`);
  }
  const ds = await loadBeir(opts.dataset, opts.split);
  progress(`${ds.docs.length} documents, ${ds.queries.size} queries`);
  const modelDir = opts.modelDir ?? (await ensureModel());
  const embedder: LocalOnnxEmbedder = await createLocalOnnxEmbedder({ modelDir });
  const results: EvalResult[] = [];
  try {
    const queryIds = [...ds.queries.keys()];
    const queryVecs = new Map<string, Float32Array>();
    for (const q of queryIds) queryVecs.set(q, await embedder.embedQuery(ds.queries.get(q)!));
    const docIds = ds.docs.map((d) => d.id);
    const ctx: StrategyContext = { modelDir, embedder, chunkSize: opts.chunkSize, chunkOverlap: opts.chunkOverlap };
    for (const name of opts.chunkers) {
      const strategy = await STRATEGIES[name]!(ctx);
      try {
        progress(`${name}: ${strategy.spec}`);
        const { matrix, owner } = await embedCorpus(
          ds,
          (t) => strategy.embedDocument(t),
          embedder.dims,
          (s) => progress(`${name}: ${s}`),
        );
        const rankings = new Map(
          queryIds.map((q) => [q, rank(queryVecs.get(q)!, matrix, owner, docIds, embedder.dims, q)] as const),
        );
        const m = evaluate(rankings, ds.qrels, K);
        results.push({
          chunker: name,
          'ndcg@10': Number(m.ndcg.toFixed(5)),
          'recall@10': Number(m.recall.toFixed(5)),
          docs: ds.docs.length,
          queries: m.queries,
          chunks: owner.length,
        });
      } finally {
        await strategy.close();
      }
    }
  } finally {
    await embedder.close();
  }
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dataset: { type: 'string' },
      json: { type: 'boolean', default: false },
      chunkers: { type: 'string', default: 'naive,late,meta' },
      'chunk-size': { type: 'string', default: '64' },
      'chunk-overlap': { type: 'string', default: '0' },
      split: { type: 'string', default: 'test' },
      'model-dir': { type: 'string' },
    },
  });
  if (!values.dataset) throw new Error('--dataset DIR is required (a BEIR folder: corpus.jsonl, queries.jsonl, qrels/)');
  const int = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} must be a non-negative integer`);
    return n;
  };
  const results = await runRetrievalEval({
    dataset: values.dataset,
    chunkers: values.chunkers
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    chunkSize: int('chunk-size', values['chunk-size']),
    chunkOverlap: int('chunk-overlap', values['chunk-overlap']),
    split: values.split,
    ...(values['model-dir'] ? { modelDir: values['model-dir'] } : {}),
    onProgress: (line) => console.error(`[eval] ${line}`),
  });
  for (const r of results) {
    if (values.json) console.log(JSON.stringify(r));
    else
      console.log(
        `${r.chunker.padEnd(8)} nDCG@10 ${r['ndcg@10'].toFixed(4)}  recall@10 ${r['recall@10'].toFixed(4)}  (${r.docs} docs, ${r.queries} queries, ${r.chunks} chunks)`,
      );
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(`eval: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
