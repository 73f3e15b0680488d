import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  analyze,
  Bm25Index,
  bm25DocumentWeights,
  bm25QueryWeights,
  fusedScores,
  idf,
  reciprocalRankFusion,
  termIndex,
  toSparse,
} from './bm25.ts';

test('the analyzer: NFKC, lower case, words of letters and digits, English stop words out, Porter stems', () => {
  assert.deepEqual(analyze('The Pumps were RUNNING, and the fault is QX-7731!'), ['pump', 'were', 'run', 'fault', 'qx', '7731']);
  // Full-width letters fold (NFKC), possessives drop, accented words stay words.
  assert.deepEqual(analyze('Ｔｉｄｅｓ of the moon’s café'), ['tide', 'moon', 'café']);
  assert.deepEqual(analyze('   ...  '), []);
  assert.deepEqual(analyze('a an the of'), [], 'stop words only');
});

test('BM25 scores as Lucene computes them (hand-worked example)', () => {
  const index = new Bm25Index();
  index.add('tides rise'); // 0: [tide, rise], length 2
  index.add('tides tides fall slowly'); // 1: [tide, tide, fall, slowli], length 4
  index.add('bread rises'); // 2: [bread, rise], length 2
  assert.equal(index.size, 3);
  const scores = index.score('tides');
  const avg = 8 / 3;
  const w = idf(3, 2);
  const bm = (tf: number, len: number) => (w * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * len) / avg));
  assert.equal(scores.size, 2, 'only texts sharing a term score');
  assert.ok(Math.abs(scores.get(0)! - bm(1, 2)) < 1e-12);
  assert.ok(Math.abs(scores.get(1)! - bm(2, 4)) < 1e-12);
  // Twice in a text twice as long still scores higher, but less than twice as high: saturation and length norms.
  assert.ok(scores.get(1)! > scores.get(0)! && scores.get(1)! < 2 * scores.get(0)!);
  // A rarer term weighs more: "bread" (df 1) beats "rise" (df 2) for the same text length and frequency.
  const both = index.score('bread rise');
  assert.ok(both.get(2)! > both.get(0)!);
  assert.ok(idf(3, 1) > idf(3, 2) && idf(3, 3) > 0, 'Lucene IDF stays positive');
  assert.equal(new Bm25Index().score('anything').size, 0);
});

test('reciprocal-rank fusion: 1/(k + rank) summed over lists, ties in first-seen order', () => {
  assert.deepEqual(
    reciprocalRankFusion([
      ['a', 'b', 'c'],
      ['c', 'b', 'd'],
    ]),
    ['c', 'b', 'a', 'd'],
  );
  // c: 1/61 + 1/63 = 0.032266 just beats b: 2/62 = 0.032258; a: 1/61; d: 1/63.
  assert.deepEqual(reciprocalRankFusion([['x'], ['y']]), ['x', 'y']);
  assert.deepEqual(reciprocalRankFusion([[], []]), []);
  assert.deepEqual(reciprocalRankFusion([['a', 'b'], ['b']], 0), ['b', 'a'], 'k = 0: ranks weigh fully');
});

test('BM25 as sparse vectors: the dot product of a chunk side and a query side is the BM25 score', () => {
  const texts = ['tides rise', 'tides tides fall slowly', 'bread rises', 'the moon pulls the tides and the tides rise'];
  const index = new Bm25Index();
  for (const t of texts) index.add(t);
  const lengths = texts.map((t) => analyze(t).length);
  const avg = lengths.reduce((a, b) => a + b, 0) / texts.length;
  const df = new Map<string, number>();
  for (const t of texts) for (const term of new Set(analyze(t))) df.set(term, (df.get(term) ?? 0) + 1);
  for (const query of ['tides', 'rising tides', 'bread and moon', 'unknown words']) {
    const qv = toSparse(bm25QueryWeights(analyze(query), texts.length, df));
    const want = index.score(query);
    texts.forEach((t, i) => {
      const dv = toSparse(bm25DocumentWeights(analyze(t), avg));
      const at = new Map(dv.indices.map((x, n) => [x, dv.values[n]!]));
      const dot = qv.indices.reduce((s, x, n) => s + qv.values[n]! * (at.get(x) ?? 0), 0);
      assert.ok(Math.abs(dot - (want.get(i) ?? 0)) < 1e-9, `${query} / ${t}: ${dot} vs ${want.get(i) ?? 0}`);
    });
  }
  assert.deepEqual(toSparse(bm25QueryWeights(['zzz'], 4, df)), { indices: [], values: [] }, 'unknown terms: empty');
});

test('sparse vectors: hashed uint32 dimensions, stable across processes, ascending, colliding terms summed, capped', () => {
  // The first 4 bytes of sha256("tide"), big-endian: fixed forever, or every stored sparse vector would be wrong.
  assert.equal(termIndex('tide'), 0x8a28929a);
  assert.ok(Number.isInteger(termIndex('pump')) && termIndex('pump') >= 0 && termIndex('pump') < 2 ** 32);
  const v = toSparse(
    new Map([
      ['b', 2],
      ['a', 1],
      ['zero', 0],
    ]),
  );
  assert.deepEqual(
    v.indices,
    [...v.indices].sort((x, y) => x - y),
  );
  assert.equal(v.indices.length, 2, 'zero weights dropped');
  // Two terms that share a dimension (found by search): one index, their weights summed.
  assert.equal(termIndex('c1pf'), termIndex('c23jl'));
  assert.deepEqual(
    toSparse(
      new Map([
        ['c1pf', 1.5],
        ['c23jl', 2],
      ]),
    ),
    { indices: [termIndex('c1pf')], values: [3.5] },
  );
  const capped = toSparse(new Map(Array.from({ length: 50 }, (_, i) => [`t${i}`, i + 1] as const)), 10);
  assert.equal(capped.indices.length, 10);
  assert.deepEqual(
    [...capped.values].sort((a, b) => a - b),
    [41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
    'the largest kept',
  );
});

test('weighted reciprocal-rank fusion: weight / (k + rank), a zero weight adds nothing', () => {
  const fused = fusedScores(
    [
      ['a', 'b'],
      ['b', 'c'],
    ],
    60,
    [0.25, 0.75],
  );
  assert.deepEqual(fused, [
    ['b', 0.25 / 62 + 0.75 / 61],
    ['c', 0.75 / 62],
    ['a', 0.25 / 61],
  ]);
  assert.deepEqual(
    reciprocalRankFusion(
      [
        ['a', 'b'],
        ['b', 'c'],
      ],
      60,
      [1, 0],
    ),
    ['a', 'b', 'c'],
  );
});
