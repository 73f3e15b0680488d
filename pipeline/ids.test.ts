import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkId, documentKey } from './ids.ts';

const base = { tenant: 't', sourceUri: 's3://b/a.txt', index: 0, chunkerSpec: 'recursive:v1', pipelineVersion: '1' };

test('chunk ids are stable UUIDs that change with every part', () => {
  const id = chunkId(base);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(chunkId({ ...base }), id);
  const variants = [
    { tenant: 'u' },
    { sourceUri: 's3://b/b.txt' },
    { index: 1 },
    { chunkerSpec: 'recursive:v2' },
    { pipelineVersion: '2' },
  ].map((v) => chunkId({ ...base, ...v }));
  assert.equal(new Set([id, ...variants]).size, 6);
});

test('parts cannot be confused by shifting a separator between them', () => {
  assert.notEqual(chunkId({ ...base, tenant: 'ab', sourceUri: 'c' }), chunkId({ ...base, tenant: 'a', sourceUri: 'bc' }));
  assert.notEqual(documentKey('ab', 'c'), documentKey('a', 'bc'));
});
