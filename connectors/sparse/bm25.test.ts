import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyze, Bm25Index, idf, reciprocalRankFusion } from './bm25.ts';

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
