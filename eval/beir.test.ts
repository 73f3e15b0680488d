import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolve } from 'node:path';
import { loadBeir, subsetBeir } from './beir.ts';

const MINI = resolve(import.meta.dirname, 'datasets/ragline-mini');

test('subsetBeir: the first queries by id, every document judged for them, others up to the size, the same each time', async () => {
  const ds = await loadBeir(MINI);
  const ids = [...ds.queries.keys()].sort();
  const sub = subsetBeir(ds, { queries: 3, maxDocs: 12 });
  assert.deepEqual([...sub.queries.keys()].sort(), ids.slice(0, 3));
  assert.deepEqual([...sub.qrels.keys()].sort(), ids.slice(0, 3));
  const judged = new Set([...sub.qrels.values()].flatMap((m) => [...m.keys()]));
  const kept = new Set(sub.docs.map((d) => d.id));
  for (const id of judged) assert.ok(kept.has(id), `judged document ${id} kept`);
  assert.equal(sub.docs.length, Math.min(12, ds.docs.length));
  assert.ok(
    sub.docs.some((d) => !judged.has(d.id)),
    'distractors fill the rest',
  );
  assert.deepEqual(
    subsetBeir(ds, { queries: 3, maxDocs: 12 }).docs.map((d) => d.id),
    sub.docs.map((d) => d.id),
  );
  // Fewer documents than the judged ones: the judged ones all stay.
  assert.deepEqual(new Set(subsetBeir(ds, { queries: 3, maxDocs: 1 }).docs.map((d) => d.id)), judged);
  // Queries only: the whole corpus.
  assert.equal(subsetBeir(ds, { queries: 2 }).docs.length, ds.docs.length);
});
