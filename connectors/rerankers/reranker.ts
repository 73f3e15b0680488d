import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { SearchHit } from '../sinks/sink.ts';

/** One scored document: its position in the `documents` given to `rerank`, and the model's relevance score. */
export interface RerankResult {
  index: number;
  score: number;
}

export interface RerankOptions {
  /** Keep only the best `topN` results. Default: all. */
  topN?: number;
  signal?: AbortSignal;
}

/**
 * - `probability`: in [0, 1] (a sigmoid or softmax the model or service applies); comparable across queries;
 * - `logit`: unbounded raw score; only the order within one query means something.
 */
export type ScoreKind = 'probability' | 'logit';

/**
 * Scores documents against a query with a model that reads both together (a cross-encoder, an LLM judge or a hosted
 * rerank API). Stateless per call; scores of one call are comparable with each other, not with another model's.
 */
export interface Reranker {
  /** `provider:model:...`: names what produced a score (for caches, eval reports and logs). */
  readonly identity: string;
  readonly provider: string;
  readonly model: string;
  readonly scoreKind: ScoreKind;
  /**
   * Tokens of query plus document the model sees. A longer document is truncated (by us or by the service), never
   * refused: a reranker must not fail a search because one candidate is long.
   */
  readonly maxTokens: number;
  /**
   * Results sorted by score, best first (ties keep input order), at most `topN` of them. No documents: no results,
   * and no request. A query that is not a non-empty string, a document that is not a non-empty string, or a `topN`
   * that is not a positive integer is a non-retryable `InvalidInput`.
   */
  rerank(query: string, documents: readonly string[], opts?: RerankOptions): Promise<RerankResult[]>;
  close(): Promise<void>;
}

const bad = (message: string): ConnectorError => new ConnectorError(FailureType.InvalidInput, `rerank: ${message}`);

/** The argument checks every provider makes before any work (the interface's promise on bad input). */
export function checkRerankInput(query: unknown, documents: unknown, opts: RerankOptions = {}): void {
  if (typeof query !== 'string') throw bad('the query must be a string');
  if (query.trim() === '') throw bad('the query is empty');
  if (!Array.isArray(documents)) throw bad('documents must be an array of strings');
  documents.forEach((d, i) => {
    if (typeof d !== 'string') throw bad(`documents[${i}] is not a string`);
    if (d.trim() === '') throw bad(`documents[${i}] is empty`);
  });
  const n = opts.topN;
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw bad(`topN must be a positive integer, got ${String(n)}`);
}

/** A reply that breaks the provider's own contract: retryable (a proxy or a bad deploy), never the caller's fault. */
export function badReply(provider: string, what: string): ConnectorError {
  return new ConnectorError(FailureType.Unavailable, `${provider} returned a malformed rerank answer: ${what}`);
}

/**
 * Checks a provider's results against the `count` documents it was sent (each index once, in range, finite score),
 * then sorts best first (ties by index) and keeps `topN`. A service may return fewer results than documents only
 * when it was asked for its top N.
 */
export function finishResults(
  provider: string,
  results: readonly RerankResult[],
  count: number,
  topN?: number,
  partial = false,
): RerankResult[] {
  const seen = new Set<number>();
  for (const r of results) {
    if (!Number.isInteger(r.index) || r.index < 0 || r.index >= count) {
      throw badReply(provider, `index ${String(r.index)} outside 0..${count - 1}`);
    }
    if (seen.has(r.index)) throw badReply(provider, `index ${r.index} twice`);
    if (typeof r.score !== 'number' || !Number.isFinite(r.score)) {
      throw badReply(provider, `score ${String(r.score)} for index ${r.index}`);
    }
    seen.add(r.index);
  }
  if (!partial && seen.size !== count) throw badReply(provider, `${seen.size} results for ${count} documents`);
  const sorted = [...results].sort((a, b) => b.score - a.score || a.index - b.index);
  return topN === undefined ? sorted : sorted.slice(0, topN);
}

/** A sink hit after reranking: `score` is the rerank score, and both scores travel with it. */
export interface RerankedHit extends SearchHit {
  /** The reranker's score (the same number as `score`). */
  rerankScore: number;
  /** The sink's similarity score the candidate was retrieved with. */
  vectorScore: number;
  /** 1-based position among the candidates as the sink ranked them. */
  vectorRank: number;
}

export interface RerankHitsOptions {
  /** Candidates taken from the front of `hits` (the sink's best first). Default: all of them. */
  candidates?: number;
  /** Hits returned after reranking. Default: all candidates. */
  topN?: number;
  signal?: AbortSignal;
}

/**
 * The search-time rerank stage: the sink's best `candidates` hits (k) reranked against the query, the best `topN` (n)
 * returned with both scores. The sink's order decides which k are candidates; the reranker alone decides the order
 * of what is returned.
 */
export async function rerankHits(
  reranker: Reranker,
  query: string,
  hits: readonly SearchHit[],
  opts: RerankHitsOptions = {},
): Promise<RerankedHit[]> {
  const k = opts.candidates;
  if (k !== undefined && (!Number.isInteger(k) || k < 1)) throw bad(`candidates must be a positive integer, got ${String(k)}`);
  const pool = hits.slice(0, k ?? hits.length);
  if (pool.length === 0) {
    checkRerankInput(query, [], opts.topN !== undefined ? { topN: opts.topN } : {});
    return [];
  }
  const results = await reranker.rerank(
    query,
    pool.map((h) => h.text),
    { ...(opts.topN !== undefined ? { topN: opts.topN } : {}), ...(opts.signal ? { signal: opts.signal } : {}) },
  );
  return results.map(({ index, score }) => {
    const hit = pool[index]!;
    return { ...hit, score, rerankScore: score, vectorScore: hit.score, vectorRank: index + 1 };
  });
}

export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
