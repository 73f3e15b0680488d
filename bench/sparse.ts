// `npm run bench:sparse -- --json [--dataset DIR] [--batch N]`: the cost and the fidelity of the BM25 sparse vectors the
// Pinecone sink writes (config `sparse: { kind: bm25 }`), on a BEIR folder (default ../shared/datasets/scifact when it
// exists, else the repository's eval/datasets/ragline-mini), one chunk per document.
//
// It runs the sink's own steps outside the sink, so no database's speed is in the numbers:
// - encode: analyze + saturated term frequencies + hashed sparse vector, per chunk;
// - put: the term statistics (SQLite beside the ledger, as a worker keeps them), `--batch` chunks per call as the
//   upsert activity sends them (256), in corpus order, each batch normalised by the average length known before it;
// - query: a query's statistics read (collection + document frequencies) and its IDF vector, per query;
// - fidelity: nDCG@10 and recall@100 of ranking by the dot product of those sparse vectors (what Pinecone computes)
//   against exact BM25 over the final statistics (Bm25Index): the price of normalising each batch by the average length
//   known when it was written rather than the final one.
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  analyze,
  Bm25Index,
  bm25DocumentWeights,
  bm25QueryWeights,
  toSparse,
  type SparseVector,
} from '../connectors/sparse/bm25.ts';
import { createSqliteTermStats } from '../connectors/sparse/term-stats.ts';
import { loadBeir } from '../eval/beir.ts';
import { evaluate } from '../eval/metrics.ts';

const root = join(import.meta.dirname, '..');
const scifact = join(root, '..', 'shared', 'datasets', 'scifact');
const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    dataset: { type: 'string', default: existsSync(scifact) ? scifact : join(root, 'eval', 'datasets', 'ragline-mini') },
    batch: { type: 'string', default: '256' },
  },
});
const batch = Number(args.batch);
if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch must be a positive integer');

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

const ds = await loadBeir(args.dataset);
const dir = mkdtempSync(join(tmpdir(), 'ragline-bench-sparse-'));
const statsPath = join(dir, 'ledger.sqlite.sparse');
const stats = createSqliteTermStats({ path: statsPath });
const INDEX = 'bench-v1';
const TENANT = 'bench';
try {
  // Encode and put, batch by batch, as the sink does.
  const vectors: SparseVector[] = [];
  let encodeMs = 0;
  let putMs = 0;
  for (let i = 0; i < ds.docs.length; i += batch) {
    const part = ds.docs.slice(i, i + batch);
    let t = performance.now();
    const terms = part.map((d) => analyze(d.text));
    const known = await stats.collection(INDEX, TENANT);
    const avg = known.chunks > 0 ? known.avgLength : terms.reduce((s, x) => s + x.length, 0) / terms.length;
    for (const ts of terms) vectors.push(toSparse(bm25DocumentWeights(ts, avg)));
    encodeMs += performance.now() - t;
    t = performance.now();
    await stats.put(
      INDEX,
      TENANT,
      part.map((d, j) => ({ id: d.id, length: terms[j]!.length, terms: [...new Set(terms[j])] })),
    );
    putMs += performance.now() - t;
  }

  // Queries: statistics read and IDF vector, then the dot product with every chunk (Pinecone's exact scoring).
  const queryMs: number[] = [];
  const sparseRank = new Map<string, string[]>();
  const exactRank = new Map<string, string[]>();
  const exact = new Bm25Index();
  for (const d of ds.docs) exact.add(d.text);
  const postings = new Map<number, { doc: number; w: number }[]>();
  vectors.forEach((v, doc) =>
    v.indices.forEach((ix, n) => (postings.get(ix) ?? postings.set(ix, []).get(ix)!).push({ doc, w: v.values[n]! })),
  );
  for (const [qid, text] of ds.queries) {
    const t = performance.now();
    const terms = analyze(text);
    const { chunks } = await stats.collection(INDEX, TENANT);
    const df = await stats.documentFrequencies(INDEX, TENANT, terms);
    const qv = toSparse(bm25QueryWeights(terms, chunks, df));
    queryMs.push(performance.now() - t);
    const scores = new Map<number, number>();
    qv.indices.forEach((ix, n) => {
      for (const p of postings.get(ix) ?? []) scores.set(p.doc, (scores.get(p.doc) ?? 0) + qv.values[n]! * p.w);
    });
    const top = (m: Map<number, number>) =>
      [...m]
        .sort((a, b) => b[1] - a[1] || a[0] - b[0])
        .slice(0, 100)
        .map(([doc]) => ds.docs[doc]!.id);
    sparseRank.set(qid, top(scores));
    exactRank.set(qid, top(exact.score(text)));
  }
  const at = (r: Map<string, string[]>) => ({
    ndcg10: round(evaluate(r, ds.qrels, 10).ndcg, 4),
    recall100: round(evaluate(r, ds.qrels, 100).recall, 4),
  });
  const nonZeros = vectors.map((v) => v.indices.length);
  const result = {
    dataset: args.dataset,
    chunks: ds.docs.length,
    queries: ds.queries.size,
    batch,
    sparseValuesPerChunk: { mean: round(nonZeros.reduce((a, b) => a + b, 0) / nonZeros.length, 1), max: Math.max(...nonZeros) },
    encodeChunksPerSec: Math.round(ds.docs.length / (encodeMs / 1000)),
    statsPutChunksPerSec: Math.round(ds.docs.length / (putMs / 1000)),
    statsFileBytes: statSync(statsPath).size + (existsSync(`${statsPath}-wal`) ? statSync(`${statsPath}-wal`).size : 0),
    queryStatsMs: { p50: round(quantile(queryMs, 0.5)), p95: round(quantile(queryMs, 0.95)) },
    sparseAsWritten: at(sparseRank),
    exactBm25: at(exactRank),
  };
  if (args.json) console.log(JSON.stringify(result));
  else console.log(result);
} finally {
  await stats.close();
  rmSync(dir, { recursive: true, force: true });
}
