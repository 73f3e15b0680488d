import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Embedder } from './embedder.ts';
import { withMicroBatching } from './micro-batcher.ts';

function countingEmbedder(calls: number[][], fail?: string): Embedder {
  return {
    identity: 'fake:1',
    dims: 2,
    metric: 'cosine',
    maxTokens: 10,
    countTokens: (t) => t.length,
    embedQuery: async (t) => new Float32Array([t.length, 0]),
    async embedDocuments(texts) {
      calls.push(texts.map((t) => t.length));
      await new Promise((r) => setTimeout(r, 5));
      if (fail && texts.includes(fail)) throw new Error('model failed');
      return texts.map((t) => new Float32Array([t.length, 1]));
    },
    close: async () => undefined,
  };
}

test('concurrent callers share model calls and each gets its own vectors in order', async () => {
  const calls: number[][] = [];
  const e = withMicroBatching(countingEmbedder(calls), { maxBatchTexts: 8 });
  const requests = Array.from({ length: 6 }, (_, i) => Array.from({ length: 3 }, (_, k) => 'x'.repeat(i * 3 + k + 1)));
  const results = await Promise.all(requests.map((r) => e.embedDocuments(r)));
  results.forEach((vs, i) =>
    assert.deepEqual(
      vs.map((v) => v[0]),
      requests[i]!.map((t) => t.length),
    ),
  );
  assert.ok(calls.length < requests.length, `6 requests of 3 texts need fewer than 6 model calls (got ${calls.length})`);
  for (const c of calls) assert.ok(c.length <= 8, 'no batch exceeds the limit');
});

test('a failed model call fails only the requests in that batch', async () => {
  const calls: number[][] = [];
  const e = withMicroBatching(countingEmbedder(calls, 'boom'), { maxBatchTexts: 2 });
  const [bad, good] = await Promise.allSettled([e.embedDocuments(['boom', 'a']), e.embedDocuments(['bb', 'cc'])]);
  assert.equal(bad.status, 'rejected');
  assert.equal(good.status, 'fulfilled');
  assert.equal(await e.embedQuery('abc').then((v) => v[0]), 3, 'other methods pass through');
});
