// Retrieval evaluation on a BEIR-format dataset: chunk and embed the corpus with each chunking strategy, then rank
// documents (by their best chunk) with each retrieval mode, optionally rerank the top of each ranking, and print
// nDCG@10, recall@10 and recall@100 with what each row cost.
//
//   node eval/retrieval.ts --dataset DIR --json [--chunkers naive,late,meta] [--modes dense,bm25,hybrid]
//     [--reranker llm|onnx:DIR|tei:URL] [--rerank-depth 20] [--rerank-queries N] [--chunk-size 64]
//     [--chunk-overlap 0] [--split test] [--model-dir DIR] [--queries N] [--max-docs N]
//
// --queries and --max-docs evaluate on a reproducible slice (eval/beir.ts subsetBeir): the first N queries, every
// document judged for them, and other documents (by sha256 of their ids) up to the given size. Strategies too slow for
// a whole corpus (meta) can then be compared with the others on the same slice.
// Modes, all over the same chunks of a chunker: `dense` (cosine with the query vector), `bm25` (our analyzer and
// BM25 over the chunk texts: connectors/sparse/bm25.ts), `hybrid` (reciprocal-rank fusion of the two chunk rankings,
// k = 60, as Weaviate, Milvus and Elasticsearch fuse). A document ranks by its best chunk. With --reranker, each
// mode gets a second row: its top --rerank-depth documents, each represented by its best chunk, reordered by the
// reranker's score. Reranking costs a model pass per pair, so --rerank-queries evaluates it on the first N queries
// (by id) only; such a row also reports the same mode without reranking on those same queries (`base`), so the gain
// is measured on equal terms. Pair scores are cached across rows.
//
// One JSON line per row: { chunker, mode, reranker, "ndcg@10", "recall@10", "recall@100", docs, queries, chunks,
// seconds: { index, queries, rerank? }, msPerQuery, base? }. `index` is chunking plus embedding the corpus (shared by
// the modes of one chunker) plus building the BM25 index where used. Progress goes to stderr. As in BEIR, a
// document whose id equals the query's id is never returned for it. `meta` runs the local language model over every
// document (about 10 s a document on 2 cores): run it on small sets.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalOnnxEmbedder, type LocalOnnxEmbedder } from '../connectors/embedders/local-onnx.ts';
import { createPromptScorer } from '../connectors/chunkers/meta/scorer.ts';
import { createLocalLlmReranker } from '../connectors/rerankers/local-llm.ts';
import { createLocalOnnxReranker } from '../connectors/rerankers/local-onnx.ts';
import type { Reranker } from '../connectors/rerankers/reranker.ts';
import { createTeiReranker } from '../connectors/rerankers/tei.ts';
import { Bm25Index, reciprocalRankFusion } from '../connectors/sparse/bm25.ts';
import { ensureLocalLlm } from '../scripts/fetch-llm.ts';
import { ensureModel } from '../scripts/fetch-model.ts';
import { type BeirDataset, loadBeir, subsetBeir } from './beir.ts';
import { evaluate } from './metrics.ts';
import { STRATEGIES, type StrategyContext } from './strategies.ts';

/** Documents kept per ranking: enough for recall@100. */
const DEPTH = 100;
/** Chunks each mode ranks before documents are taken from them (a document appears once, at its best chunk). */
const CHUNK_DEPTH = 2000;
export const MODES = ['dense', 'bm25', 'hybrid'] as const;
export type Mode = (typeof MODES)[number];

export interface EvalOptions {
  dataset: string;
  chunkers: string[];
  modes?: Mode[];
  chunkSize: number;
  chunkOverlap: number;
  split?: string;
  modelDir?: string;
  /** `llm` (the local GGUF as a yes/no judge), `onnx:DIR` (a cross-encoder folder), `tei:URL` (a /rerank server). */
  reranker?: string;
  rerankDepth?: number;
  /** Rerank rows over the first N queries (by id) only. Default: all. */
  rerankQueries?: number;
  /** Evaluate on the first N queries (by id) only (subsetBeir). */
  queries?: number;
  /** Shrink the corpus to the judged documents of those queries plus others up to this many (subsetBeir). */
  maxDocs?: number;
  onProgress?: (line: string) => void;
}

export interface Scores {
  'ndcg@10': number;
  'recall@10': number;
  'recall@100': number;
  queries: number;
}

export interface EvalResult extends Scores {
  chunker: string;
  mode: Mode;
  /** The reranker's identity, or null. */
  reranker: string | null;
  docs: number;
  chunks: number;
  seconds: { index: number; queries: number; rerank?: number };
  /** Wall time per query of this row's query side (query embedding, ranking, reranking). */
  msPerQuery: number;
  /** Rerank rows: the same mode without reranking, on the same queries. */
  base?: Scores;
}

interface Corpus {
  matrix: Float32Array;
  owner: Int32Array;
  texts: string[];
}

/** The best `n` indexes of `score` (higher first, ties by index), skipping -Infinity. */
function topIndexes(score: Float64Array | Float32Array, n: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < score.length; i++) if (score[i]! > -Infinity) idx.push(i);
  idx.sort((a, b) => score[b]! - score[a]! || a - b);
  return idx.slice(0, n);
}

function denseChunks(query: Float32Array, c: Corpus, dims: number): number[] {
  const s = new Float32Array(c.owner.length);
  for (let k = 0; k < s.length; k++) {
    let dot = 0;
    const base = k * dims;
    for (let d = 0; d < dims; d++) dot += query[d]! * c.matrix[base + d]!;
    s[k] = dot;
  }
  return topIndexes(s, CHUNK_DEPTH);
}

function bm25Chunks(query: string, index: Bm25Index, n: number): number[] {
  const s = new Float64Array(n).fill(-Infinity);
  for (const [k, v] of index.score(query)) s[k] = v;
  return topIndexes(s, CHUNK_DEPTH);
}

/** Documents in the order their chunks first appear, each with that best chunk; the query's own id skipped. */
function documentsOf(chunks: readonly number[], c: Corpus, docIds: readonly string[], skipId: string) {
  const seen = new Set<number>();
  const out: { doc: string; chunk: number }[] = [];
  for (const k of chunks) {
    const d = c.owner[k]!;
    if (seen.has(d) || docIds[d] === skipId) continue;
    seen.add(d);
    out.push({ doc: docIds[d]!, chunk: k });
    if (out.length === DEPTH) break;
  }
  return out;
}

async function embedCorpus(
  ds: BeirDataset,
  embedDocument: (t: string) => Promise<{ texts: string[]; vectors: Float32Array[] }>,
  dims: number,
  progress: (s: string) => void,
): Promise<Corpus> {
  const vectors: Float32Array[] = [];
  const owners: number[] = [];
  const texts: string[] = [];
  for (let i = 0; i < ds.docs.length; i++) {
    const e = await embedDocument(ds.docs[i]!.text);
    e.vectors.forEach((v, k) => {
      vectors.push(v);
      owners.push(i);
      texts.push(e.texts[k]!);
    });
    if ((i + 1) % 500 === 0) progress(`${i + 1}/${ds.docs.length} documents`);
  }
  const matrix = new Float32Array(vectors.length * dims);
  vectors.forEach((v, i) => matrix.set(v, i * dims));
  return { matrix, owner: Int32Array.from(owners), texts };
}

/** A reranker from its command-line name. */
export async function openReranker(name: string): Promise<Reranker> {
  if (name === 'llm') return createLocalLlmReranker(await createPromptScorer({ kind: 'local', ...(await ensureLocalLlm()) }));
  if (name.startsWith('onnx:')) return createLocalOnnxReranker({ modelDir: resolve(name.slice(5)) });
  if (name.startsWith('tei:')) return createTeiReranker({ baseUrl: name.slice(4), model: 'served' });
  throw new Error(`unknown reranker "${name}" (want llm, onnx:DIR or tei:URL)`);
}

const round = (x: number) => Number(x.toFixed(5));
const secs = (ms: number) => Number((ms / 1000).toFixed(2));

function scores(rankings: Map<string, string[]>, ds: BeirDataset): Scores {
  const at10 = evaluate(rankings, ds.qrels, 10);
  const at100 = evaluate(rankings, ds.qrels, 100);
  return {
    'ndcg@10': round(at10.ndcg),
    'recall@10': round(at10.recall),
    'recall@100': round(at100.recall),
    queries: at10.queries,
  };
}

export async function runRetrievalEval(opts: EvalOptions): Promise<EvalResult[]> {
  const progress = opts.onProgress ?? (() => {});
  const modes = opts.modes ?? ['dense'];
  for (const name of opts.chunkers) {
    if (!STRATEGIES[name]) throw new Error(`unknown chunker "${name}" (known: ${Object.keys(STRATEGIES).join(', ')})`);
  }
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode "${m}" (known: ${MODES.join(', ')})`);
  const depth = opts.rerankDepth ?? 20;
  if (!Number.isInteger(depth) || depth < 1) throw new Error('--rerank-depth must be a positive integer');
  const full = await loadBeir(opts.dataset, opts.split);
  const ds =
    opts.queries !== undefined || opts.maxDocs !== undefined
      ? subsetBeir(full, { queries: opts.queries, maxDocs: opts.maxDocs })
      : full;
  progress(`${ds.docs.length} documents, ${ds.queries.size} queries`);
  const modelDir = opts.modelDir ?? (await ensureModel());
  const embedder: LocalOnnxEmbedder = await createLocalOnnxEmbedder({ modelDir });
  const reranker = opts.reranker ? await openReranker(opts.reranker) : undefined;
  const pairCache = new Map<string, number>();
  const pairCost = { ms: 0, pairs: 0 };
  const results: EvalResult[] = [];
  try {
    const queryIds = [...ds.queries.keys()].sort();
    const rerankIds = new Set(queryIds.slice(0, opts.rerankQueries ?? queryIds.length));
    const queryVecs = new Map<string, Float32Array>();
    let t = performance.now();
    for (const q of queryIds) queryVecs.set(q, await embedder.embedQuery(ds.queries.get(q)!));
    const queryEmbedMs = performance.now() - t;
    const docIds = ds.docs.map((d) => d.id);
    const ctx: StrategyContext = { modelDir, embedder, chunkSize: opts.chunkSize, chunkOverlap: opts.chunkOverlap };
    for (const name of opts.chunkers) {
      const strategy = await STRATEGIES[name]!(ctx);
      try {
        progress(`${name}: ${strategy.spec}`);
        t = performance.now();
        const corpus = await embedCorpus(
          ds,
          (x) => strategy.embedDocument(x),
          embedder.dims,
          (s) => progress(`${name}: ${s}`),
        );
        const embedMs = performance.now() - t;
        let bm25: Bm25Index | undefined;
        let bm25Ms = 0;
        if (modes.some((m) => m !== 'dense')) {
          t = performance.now();
          bm25 = new Bm25Index();
          for (const text of corpus.texts) bm25.add(text);
          bm25Ms = performance.now() - t;
        }
        for (const mode of modes) {
          t = performance.now();
          const ranked = new Map<string, { doc: string; chunk: number }[]>();
          for (const q of queryIds) {
            const text = ds.queries.get(q)!;
            const chunks =
              mode === 'dense'
                ? denseChunks(queryVecs.get(q)!, corpus, embedder.dims)
                : mode === 'bm25'
                  ? bm25Chunks(text, bm25!, corpus.owner.length)
                  : reciprocalRankFusion([
                      denseChunks(queryVecs.get(q)!, corpus, embedder.dims),
                      bm25Chunks(text, bm25!, corpus.owner.length),
                    ]);
            ranked.set(q, documentsOf(chunks, corpus, docIds, q));
          }
          const rankMs = performance.now() - t + (mode === 'bm25' ? 0 : queryEmbedMs);
          const row = {
            chunker: name,
            mode,
            docs: ds.docs.length,
            chunks: corpus.owner.length,
          };
          const index = secs(embedMs * (mode === 'bm25' ? 0 : 1) + (mode === 'dense' ? 0 : bm25Ms));
          const plain = new Map([...ranked].map(([q, r]) => [q, r.map((x) => x.doc)]));
          results.push({
            ...row,
            reranker: null,
            ...scores(plain, ds),
            seconds: { index, queries: secs(rankMs) },
            msPerQuery: Number((rankMs / queryIds.length).toFixed(2)),
          });
          progress(`${name}/${mode}: ${JSON.stringify(results.at(-1))}`);
          if (!reranker) continue;
          const reranked = new Map<string, string[]>();
          let done = 0;
          for (const q of rerankIds) {
            const list = ranked.get(q)!;
            const head = list.slice(0, depth);
            const query = ds.queries.get(q)!;
            const keys = head.map((h) => `${q}\u0000${createHash('sha1').update(corpus.texts[h.chunk]!).digest('hex')}`);
            const todo = head.map((_, i) => i).filter((i) => !pairCache.has(keys[i]!));
            if (todo.length) {
              const started = performance.now();
              const res = await reranker.rerank(
                query,
                todo.map((i) => corpus.texts[head[i]!.chunk]!),
              );
              pairCost.ms += performance.now() - started;
              pairCost.pairs += todo.length;
              for (const r of res) pairCache.set(keys[todo[r.index]!]!, r.score);
            }
            const order = head
              .map((h, i) => ({ doc: h.doc, s: pairCache.get(keys[i]!)!, i }))
              .sort((a, b) => b.s - a.s || a.i - b.i)
              .map((x) => x.doc);
            reranked.set(q, [...order, ...list.slice(depth).map((x) => x.doc)]);
            if (++done % 25 === 0) progress(`${name}/${mode}+rerank: ${done}/${rerankIds.size} queries`);
          }
          // Pairs scored for an earlier row come from the cache: charge every query the mean cost of its pairs.
          const rerankMs = (pairCost.pairs ? pairCost.ms / pairCost.pairs : 0) * depth * rerankIds.size;
          const subset = new Map([...plain].filter(([q]) => rerankIds.has(q)));
          results.push({
            ...row,
            reranker: reranker.identity,
            ...scores(reranked, ds),
            seconds: { index, queries: secs(rankMs), rerank: secs(rerankMs) },
            msPerQuery: Number((rankMs / queryIds.length + rerankMs / Math.max(1, rerankIds.size)).toFixed(2)),
            base: scores(subset, ds),
          });
          progress(`${name}/${mode}+rerank: ${JSON.stringify(results.at(-1))}`);
        }
      } finally {
        await strategy.close();
      }
    }
  } finally {
    await embedder.close();
    await reranker?.close();
  }
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dataset: { type: 'string' },
      json: { type: 'boolean', default: false },
      chunkers: { type: 'string', default: 'naive,late,meta' },
      modes: { type: 'string', default: 'dense' },
      reranker: { type: 'string' },
      'rerank-depth': { type: 'string', default: '20' },
      'rerank-queries': { type: 'string' },
      'chunk-size': { type: 'string', default: '64' },
      'chunk-overlap': { type: 'string', default: '0' },
      split: { type: 'string', default: 'test' },
      'model-dir': { type: 'string' },
      queries: { type: 'string' },
      'max-docs': { type: 'string' },
    },
  });
  if (!values.dataset) throw new Error('--dataset DIR is required (a BEIR folder: corpus.jsonl, queries.jsonl, qrels/)');
  const int = (flag: string, v: string, min = 0) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be an integer >= ${min}`);
    return n;
  };
  const list = (v: string) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const results = await runRetrievalEval({
    dataset: values.dataset,
    chunkers: list(values.chunkers),
    modes: list(values.modes) as Mode[],
    chunkSize: int('chunk-size', values['chunk-size']),
    chunkOverlap: int('chunk-overlap', values['chunk-overlap']),
    split: values.split,
    rerankDepth: int('rerank-depth', values['rerank-depth'], 1),
    ...(values.reranker ? { reranker: values.reranker } : {}),
    ...(values['rerank-queries'] ? { rerankQueries: int('rerank-queries', values['rerank-queries'], 1) } : {}),
    ...(values['model-dir'] ? { modelDir: values['model-dir'] } : {}),
    ...(values.queries ? { queries: int('queries', values.queries, 1) } : {}),
    ...(values['max-docs'] ? { maxDocs: int('max-docs', values['max-docs'], 1) } : {}),
    onProgress: (line) => console.error(`[eval] ${line}`),
  });
  for (const r of results) {
    if (values.json) console.log(JSON.stringify(r));
    else
      console.log(
        `${`${r.chunker}/${r.mode}${r.reranker ? '+rerank' : ''}`.padEnd(20)} nDCG@10 ${r['ndcg@10'].toFixed(4)}  ` +
          `recall@100 ${r['recall@100'].toFixed(4)}  ${r.msPerQuery} ms/query  index ${r.seconds.index} s` +
          (r.base ? `  (without rerank on the same ${r.queries} queries: nDCG@10 ${r.base['ndcg@10'].toFixed(4)})` : ''),
      );
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(`eval: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
