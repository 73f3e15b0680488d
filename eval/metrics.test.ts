import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate, ndcgAt, recallAt } from './metrics.ts';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

describe('retrieval metrics (hand-computed)', () => {
  // Judged: d1 = 2, d2 = 1, d3 = 1 (d3 never retrieved), d9 = 0.
  const judged = new Map([
    ['d1', 2],
    ['d2', 1],
    ['d3', 1],
    ['d9', 0],
  ]);
  const ranking = ['d5', 'd1', 'd9', 'd2', 'd7'];

  it('nDCG@10 with graded gains and log2 discounts', () => {
    // DCG = 2/log2(3) + 1/log2(5) = 1.261859507 + 0.430676558 = 1.692536065
    // IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.630929754 + 0.5 = 3.130929754
    close(ndcgAt(ranking, judged, 10), 1.692536065 / 3.130929754);
    // Cut at 1: nothing relevant in the top 1.
    close(ndcgAt(ranking, judged, 1), 0);
    close(ndcgAt(['d1', 'd2', 'd3'], judged, 10), 1);
  });

  it('recall@k counts documents judged relevant (score > 0)', () => {
    close(recallAt(ranking, judged, 10), 2 / 3);
    close(recallAt(ranking, judged, 2), 1 / 3);
    close(recallAt(ranking, new Map([['d9', 0]]), 10), 0);
  });

  it('averages over queries with a relevant judgement and a ranking', () => {
    const qrels = new Map([
      ['q1', judged],
      ['q2', new Map([['d4', 1]])],
      ['q3', new Map([['d4', 0]])], // no relevant document: not counted
      ['q4', new Map([['d4', 1]])], // no ranking: not counted
    ]);
    const rankings = new Map([
      ['q1', ranking],
      ['q2', ['d4']],
      ['q3', ['d4']],
    ]);
    const r = evaluate(rankings, qrels, 10);
    assert.equal(r.queries, 2);
    close(r.ndcg, (1.692536065 / 3.130929754 + 1) / 2);
    close(r.recall, (2 / 3 + 1) / 2);
  });
});
