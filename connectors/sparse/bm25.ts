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
 * Reciprocal-rank fusion (Cormack et al. 2009): each list adds 1 / (k + rank) for each item it ranks (rank from 1).
 * Items missing from a list get nothing from it. Ties keep the first list's order. `k` = 60 as in the paper (and
 * Weaviate's, Milvus's and Elasticsearch's RRF defaults).
 */
export function reciprocalRankFusion<T>(lists: readonly (readonly T[])[], k = 60): T[] {
  const score = new Map<T, number>();
  const first = new Map<T, number>();
  let seen = 0;
  for (const list of lists) {
    list.forEach((item, i) => {
      score.set(item, (score.get(item) ?? 0) + 1 / (k + i + 1));
      if (!first.has(item)) first.set(item, seen++);
    });
  }
  return [...score.keys()].sort((a, b) => score.get(b)! - score.get(a)! || first.get(a)! - first.get(b)!);
}
