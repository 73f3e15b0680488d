import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { SearchHit } from '../sinks/sink.ts';
import { finishResults, type Reranker, rerankHits } from './reranker.ts';

const hit = (i: number, score: number): SearchHit => ({
  id: `c${i}`,
  score,
  text: `text ${i}`,
  metadata: { tenant: 't', sourceUri: 'u', chunkIndex: i, start: 0, end: 1, contentHash: 'h', pipelineVersion: 'v' },
});

/** Scores each text by the number in it, so the order is known without a model. */
function numberReranker(): Reranker & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    identity: 'test:numbers',
    provider: 'test',
    model: 'numbers',
    scoreKind: 'logit',
    maxTokens: 512,
    calls,
    async rerank(_q, docs, opts = {}) {
      calls.push([...docs]);
      const out = docs.map((d, index) => ({ index, score: Number(d.split(' ')[1]) }));
      return finishResults('test', out, docs.length, opts.topN);
    },
    async close() {},
  };
}

describe('rerankHits', () => {
  it('reranks the first k hits to n, keeping both scores and the vector rank', async () => {
    const r = numberReranker();
    const hits = [hit(1, 0.9), hit(7, 0.8), hit(3, 0.7), hit(9, 0.6)];
    const out = await rerankHits(r, 'q', hits, { candidates: 3, topN: 2 });
    assert.deepEqual(r.calls, [['text 1', 'text 7', 'text 3']]);
    assert.deepEqual(
      out.map((h) => [h.id, h.score, h.rerankScore, h.vectorScore, h.vectorRank]),
      [
        ['c7', 7, 7, 0.8, 2],
        ['c3', 3, 3, 0.7, 3],
      ],
    );
    assert.deepEqual(out[0]!.metadata, hits[1]!.metadata);
  });

  it('returns nothing for no hits without calling the reranker, and checks its options', async () => {
    const r = numberReranker();
    assert.deepEqual(await rerankHits(r, 'q', []), []);
    assert.equal(r.calls.length, 0);
    await assert.rejects(rerankHits(r, 'q', [hit(1, 1)], { candidates: 0 }), /candidates/);
    await assert.rejects(rerankHits(r, '', []), /query is empty/);
  });
});

describe('finishResults', () => {
  it('sorts best first with ties in input order, and cuts to topN', () => {
    const out = finishResults(
      'p',
      [
        { index: 0, score: 1 },
        { index: 1, score: 3 },
        { index: 2, score: 1 },
      ],
      3,
      2,
    );
    assert.deepEqual(out, [
      { index: 1, score: 3 },
      { index: 0, score: 1 },
    ]);
  });

  it('refuses a malformed answer as a retryable Unavailable', () => {
    const cases = [
      [{ index: 3, score: 1 }],
      [
        { index: 0, score: 1 },
        { index: 0, score: 2 },
      ],
      [{ index: 0, score: Number.NaN }],
      [{ index: 0, score: 1 }],
    ];
    for (const results of cases) {
      assert.throws(
        () => finishResults('p', results, 2),
        (e: unknown) => e instanceof ConnectorError && e.type === FailureType.Unavailable && e.retryable,
      );
    }
    assert.equal(finishResults('p', [{ index: 1, score: 1 }], 2, 1, true).length, 1, 'a top-n answer may be partial');
  });
});
