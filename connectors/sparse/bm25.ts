import { createHash } from 'node:crypto';
import { stemmer } from 'stemmer';

// BM25 (Okapi, as Lucene and Elasticsearch compute it) over our own analyzer: the keyword half of hybrid retrieval
// where a database has no full-text index of its own (Milvus Lite, Pinecone, Chroma) and in the eval harness.
//
// The analyzer is Lucene's `english` analyzer in small: NFKC, lower case, words of letters and digits, Lucene's 33
// English stop words dropped, Porter stems (the `stemmer` package). BM25 as a sparse vector follows the usual split:
// a document's vector carries the saturated term frequency (it needs only the average length, known when the chunk
// is written); a query's vector carries each term's IDF (the collection statistics, known when the query is asked).
// Their dot product is the BM25 score.

/** Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (also Elasticsearch's `_english_`). */
const STOP_WORDS = new Set(
  (
    'a an and are as at be but by for if in into is it no not of on or such that the their then there these they ' +
    'this to was will with'
  ).split(' '),
);

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu;

/** The terms of a text, in order, repeats kept. */
export function analyze(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const word = m[0].replace(/['’]s$/, '');
    if (STOP_WORDS.has(word) || word.length > 64) continue;
    out.push(stemmer(word));
  }
  return out;
}

/** Term -> count. */
export function termCounts(terms: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of terms) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

export interface Bm25Params {
  /** Term-frequency saturation. Lucene's default 1.2. */
  k1: number;
  /** Length normalisation. Lucene's default 0.75. */
  b: number;
}

export const BM25_DEFAULTS: Bm25Params = { k1: 1.2, b: 0.75 };

/** Lucene's IDF: ln(1 + (N - df + 0.5) / (df + 0.5)); never negative. */
export function idf(docCount: number, df: number): number {
  return Math.log(1 + (docCount - df + 0.5) / (df + 0.5));
}

/**
 * An in-memory BM25 index over short texts (chunks): enough for the eval harness and for tests; a sink-side index
 * (Weaviate's inverted index, Milvus's BM25 function) replaces it in production.
 */
export class Bm25Index {
  private readonly postings = new Map<string, { doc: number; tf: number }[]>();
  private readonly lengths: number[] = [];
  private totalLength = 0;
  private readonly params: Bm25Params;

  constructor(params: Bm25Params = BM25_DEFAULTS) {
    this.params = params;
  }

  get size(): number {
    return this.lengths.length;
  }

  /** Adds a text; returns its number (0, 1, ...). */
  add(text: string): number {
    const id = this.lengths.length;
    const terms = analyze(text);
    this.lengths.push(terms.length);
    this.totalLength += terms.length;
    for (const [term, tf] of termCounts(terms)) {
      let list = this.postings.get(term);
      if (!list) this.postings.set(term, (list = []));
      list.push({ doc: id, tf });
    }
    return id;
  }

  /** Scores of every text that shares a term with the query (text number -> score). */
  score(query: string): Map<number, number> {
    const { k1, b } = this.params;
    const n = this.lengths.length;
    const avg = n ? this.totalLength / n : 0;
    const scores = new Map<number, number>();
    for (const [term, qtf] of termCounts(analyze(query))) {
      const list = this.postings.get(term);
      if (!list) continue;
      const w = idf(n, list.length) * qtf;
      for (const { doc, tf } of list) {
        const norm = tf + k1 * (1 - b + (b * this.lengths[doc]!) / (avg || 1));
        scores.set(doc, (scores.get(doc) ?? 0) + (w * tf * (k1 + 1)) / norm);
      }
    }
    return scores;
  }
}

/**
 * Reciprocal-rank fusion (Cormack et al. 2009): each list adds weight / (k + rank) for each item it ranks (rank from
 * 1; weights default to 1). Items missing from a list get nothing from it. Ties keep the first list's order. `k` = 60
 * as in the paper (and Weaviate's, Milvus's and Elasticsearch's RRF defaults).
 */
export function reciprocalRankFusion<T>(lists: readonly (readonly T[])[], k = 60, weights?: readonly number[]): T[] {
  return fusedScores(lists, k, weights).map(([item]) => item);
}

/** Reciprocal-rank fusion with each item's fused score, best first (see reciprocalRankFusion). */
export function fusedScores<T>(lists: readonly (readonly T[])[], k = 60, weights?: readonly number[]): [T, number][] {
  const score = new Map<T, number>();
  const first = new Map<T, number>();
  let seen = 0;
  lists.forEach((list, l) => {
    const w = weights?.[l] ?? 1;
    list.forEach((item, i) => {
      score.set(item, (score.get(item) ?? 0) + w / (k + i + 1));
      if (!first.has(item)) first.set(item, seen++);
    });
  });
  return [...score.entries()].sort((a, b) => b[1] - a[1] || first.get(a[0])! - first.get(b[0])!);
}

// BM25 as sparse vectors, for databases that store sparse vectors but compute no BM25 of their own (Pinecone). A term
// becomes a dimension by hashing: the first 4 bytes of its SHA-256, an unsigned 32-bit index (Pinecone's sparse indices
// are uint32). There is no vocabulary to keep or ship, and a term's dimension never changes. Two terms may share a
// dimension (about one pair in a 100,000-term vocabulary): their weights then add up, and a query with one of them
// scores a chunk with the other a little. Statistics (df, N) are kept per term, not per dimension, so they are exact.

/** A sparse vector: distinct indices, ascending, and their values. */
export interface SparseVector {
  indices: number[];
  values: number[];
}

/** Pinecone's ceiling on the non-zero values of one sparse vector. */
export const MAX_SPARSE_VALUES = 1000;

const termIndexes = new Map<string, number>();

/** The sparse dimension of a term: an unsigned 32-bit hash, the same in every process. */
export function termIndex(term: string): number {
  let i = termIndexes.get(term);
  if (i === undefined) {
    i = createHash('sha256').update(term).digest().readUInt32BE(0);
    if (termIndexes.size >= 200_000) termIndexes.clear();
    termIndexes.set(term, i);
  }
  return i;
}

/** term -> weight as a sparse vector: hashed, colliding terms summed, zeros dropped, the `max` largest kept. */
export function toSparse(weights: ReadonlyMap<string, number>, max = MAX_SPARSE_VALUES): SparseVector {
  const byIndex = new Map<number, number>();
  for (const [term, w] of weights) {
    if (!(w > 0)) continue;
    const i = termIndex(term);
    byIndex.set(i, (byIndex.get(i) ?? 0) + w);
  }
  let entries = [...byIndex];
  if (entries.length > max) entries = entries.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, max);
  entries.sort((a, b) => a[0] - b[0]);
  return { indices: entries.map(([i]) => i), values: entries.map(([, v]) => v) };
}

/**
 * A chunk's side of BM25: each term's saturated, length-normalised frequency tf·(k1 + 1) / (tf + k1·(1 − b + b·len/avg)).
 * Its dot product with `bm25QueryWeights` of a query is the chunk's BM25 score for that query, given the same `avg`.
 */
export function bm25DocumentWeights(
  terms: readonly string[],
  avgLength: number,
  params: Bm25Params = BM25_DEFAULTS,
): Map<string, number> {
  const { k1, b } = params;
  const norm = k1 * (1 - b + (b * terms.length) / (avgLength > 0 ? avgLength : terms.length || 1));
  const out = new Map<string, number>();
  for (const [term, tf] of termCounts(terms)) out.set(term, (tf * (k1 + 1)) / (tf + norm));
  return out;
}

/** A query's side of BM25: each term's IDF in the collection, times its count in the query; unknown terms left out. */
export function bm25QueryWeights(
  terms: readonly string[],
  docCount: number,
  df: ReadonlyMap<string, number>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [term, qtf] of termCounts(terms)) {
    const d = df.get(term);
    if (d !== undefined && d > 0) out.set(term, idf(docCount, d) * qtf);
  }
  return out;
}
