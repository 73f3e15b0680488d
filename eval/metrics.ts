// Retrieval metrics as BEIR computes them through pytrec_eval (trec_eval semantics): graded gains are the judged
// relevance itself (not 2^rel - 1), the discount is log2(rank + 1) with ranks from 1, the ideal ranking sorts every
// judged relevance of the query, and recall counts documents judged relevant (score > 0).

/** query id -> document id -> graded relevance. */
export type Qrels = Map<string, Map<string, number>>;

/** nDCG@k of one ranking (document ids, best first). */
export function ndcgAt(ranking: readonly string[], judged: ReadonlyMap<string, number>, k: number): number {
  let dcg = 0;
  ranking.slice(0, k).forEach((doc, i) => {
    const rel = judged.get(doc) ?? 0;
    if (rel > 0) dcg += rel / Math.log2(i + 2);
  });
  const ideal = [...judged.values()]
    .filter((r) => r > 0)
    .sort((a, b) => b - a)
    .slice(0, k);
  const idcg = ideal.reduce((s, rel, i) => s + rel / Math.log2(i + 2), 0);
  return idcg > 0 ? dcg / idcg : 0;
}

/** Recall@k: the share of the relevant documents found in the top k. */
export function recallAt(ranking: readonly string[], judged: ReadonlyMap<string, number>, k: number): number {
  const relevant = [...judged.entries()].filter(([, r]) => r > 0).map(([d]) => d);
  if (relevant.length === 0) return 0;
  const top = new Set(ranking.slice(0, k));
  return relevant.filter((d) => top.has(d)).length / relevant.length;
}

/** Mean nDCG@k and recall@k over the queries that have at least one relevant judgement and a ranking. */
export function evaluate(
  rankings: ReadonlyMap<string, readonly string[]>,
  qrels: Qrels,
  k: number,
): { ndcg: number; recall: number; queries: number } {
  let ndcg = 0;
  let recall = 0;
  let n = 0;
  for (const [q, judged] of qrels) {
    const ranking = rankings.get(q);
    if (!ranking || ![...judged.values()].some((r) => r > 0)) continue;
    ndcg += ndcgAt(ranking, judged, k);
    recall += recallAt(ranking, judged, k);
    n++;
  }
  return { ndcg: n ? ndcg / n : 0, recall: n ? recall / n : 0, queries: n };
}
