import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHashEmbedder } from './hash.ts';

const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('hash embeddings are deterministic unit vectors where shared words mean closeness', async () => {
  const e = createHashEmbedder({ dims: 64 });
  const [a, b, c] = await e.embedDocuments(['rivers flow to the sea', 'the sea where rivers flow', 'quarterly revenue grew']);
  assert.equal(a!.length, 64);
  assert.ok(Math.abs(cos(a!, a!) - 1) < 1e-5);
  assert.deepEqual(a, (await e.embedDocuments(['rivers flow to the sea']))[0]);
  assert.ok(cos(a!, b!) > cos(a!, c!) + 0.3);
  assert.equal(e.countTokens('Two words'), 2);
});
