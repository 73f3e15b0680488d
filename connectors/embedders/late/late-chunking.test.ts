import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkTokenRanges, createLateChunkEmbedder, planWindows, type TokenEmbeddingSource } from './late-chunking.ts';

const CLS = 101;
const SEP = 102;

/**
 * A toy model over whitespace words: token ids are word indices + 1000, and each output row records
 * [the token's id, the first body token of the window that produced it, 1], so tests can read back which window
 * each token's embedding came from. `contextFree` drops the window marker, making every row depend on its id alone.
 */
function toySource(windowTokens: number, opts: { prefix?: string; contextFree?: boolean } = {}) {
  const calls: number[][][] = [];
  const source: TokenEmbeddingSource = {
    identity: 'toy',
    dims: 3,
    windowTokens,
    documentPrefix: opts.prefix ?? '',
    async tokenize(text) {
      const ids = [CLS];
      const spans: ([number, number] | null)[] = [null];
      for (const m of text.matchAll(/\S+/g)) {
        ids.push(1000 + ids.length - 1);
        spans.push([m.index, m.index + m[0].length]);
      }
      ids.push(SEP);
      spans.push(null);
      return { ids, spans, special: ids.map((id) => (id === CLS || id === SEP ? 1 : 0)) };
    },
    async embedTokens(seqs) {
      calls.push(seqs);
      return seqs.map((seq) => {
        const marker = opts.contextFree ? 0 : seq[1]!;
        return Float32Array.from(seq.flatMap((id) => [id, marker, 1]));
      });
    },
    close: async () => {},
  };
  return { source, calls };
}

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
/** Span of word i in `words(n)`. */
const wordSpan = (text: string, i: number) => {
  const m = [...text.matchAll(/\S+/g)][i]!;
  return { start: m.index, end: m.index + m[0].length };
};
/** Decodes a pooled toy vector [id, marker, 1] / norm back to (mean id, mean marker). */
const decode = (v: Float32Array) => [v[0]! / v[2]!, v[1]! / v[2]!] as const;

describe('planWindows', () => {
  it('kept body ranges tile the body exactly once, each window within the budget', () => {
    for (let n = 2; n < 200; n += 7) {
      for (const [body, overlap] of [
        [5, 0],
        [5, 2],
        [16, 4],
        [64, 63],
      ] as const) {
        const ws = planWindows(n, 1, 1, body, overlap);
        let next = 1;
        for (const w of ws) {
          assert.ok(w.end - w.start <= body);
          assert.equal(w.keepFrom, next, `n=${n} body=${body} overlap=${overlap}`);
          assert.ok(w.keepFrom >= w.start && w.keepFrom <= w.end);
          next = w.end;
        }
        assert.equal(next, n - 1);
      }
    }
  });

  it('follows Jina: step body - overlap, first overlap outputs of later windows dropped', () => {
    assert.deepEqual(planWindows(12, 1, 1, 4, 1), [
      { start: 1, end: 5, keepFrom: 1 },
      { start: 4, end: 8, keepFrom: 5 },
      { start: 7, end: 11, keepFrom: 8 },
    ]);
  });
});

describe('chunkTokenRanges', () => {
  const spans: ([number, number] | null)[] = [null, [0, 3], [4, 7], [7, 8], [9, 12], null];
  it('assigns overlapping tokens; edge specials join the first and last chunks only', () => {
    assert.deepEqual(
      chunkTokenRanges(spans, 0, 12, [
        { start: 0, end: 4 },
        { start: 4, end: 9 },
        { start: 9, end: 12 },
      ]),
      [
        { from: 0, to: 2 },
        { from: 2, to: 4 },
        { from: 4, to: 6 },
      ],
    );
    // A chunk that does not start at the first token does not take [CLS].
    assert.deepEqual(chunkTokenRanges(spans, 0, 12, [{ start: 5, end: 8 }]), [{ from: 2, to: 4 }]);
    // A chunk over whitespace only takes the next token.
    assert.deepEqual(chunkTokenRanges(spans, 0, 12, [{ start: 3, end: 4 }]), [{ from: 2, to: 3 }]);
  });
  it('treats instruction tokens before the text like [CLS]', () => {
    // "query: " prefix of 7 chars as two tokens, then the text.
    const withPrefix: ([number, number] | null)[] = [null, [0, 5], [5, 6], [7, 10], [11, 14], null];
    assert.deepEqual(
      chunkTokenRanges(withPrefix, 7, 14, [
        { start: 0, end: 3 },
        { start: 4, end: 7 },
      ]),
      [
        { from: 0, to: 4 },
        { from: 4, to: 6 },
      ],
    );
  });
});

describe('late chunking over macro windows', () => {
  it('a context-free model gives the same vectors through any window size (stitching loses and repeats nothing)', async () => {
    const text = words(50);
    const chunks = [
      { start: 0, end: wordSpan(text, 9).end },
      { start: wordSpan(text, 10).start, end: wordSpan(text, 33).end },
      { start: wordSpan(text, 20).start, end: text.length },
    ];
    const one = await createLateChunkEmbedder(toySource(100, { contextFree: true }).source).embedChunks(text, chunks);
    for (const [win, ov] of [
      [8, 2],
      [10, 0],
      [17, 7],
    ] as const) {
      const { source, calls } = toySource(win, { contextFree: true });
      const progress: [number, number][] = [];
      const many = await createLateChunkEmbedder(source, { overlapTokens: ov, windowsPerCall: 3 }).embedChunks(text, chunks, {
        onProgress: (done, total) => progress.push([done, total]),
      });
      assert.ok(calls.length > 1);
      assert.equal(progress.length, calls.length, 'progress after every call');
      assert.equal(progress.at(-1)![0], progress.at(-1)![1]);
      for (const seqs of calls)
        for (const s of seqs) {
          assert.ok(s.length <= win, 'every pass fits the window');
          assert.equal(s[0], CLS);
          assert.equal(s[s.length - 1], SEP);
        }
      many.forEach((v, i) => v.forEach((x, k) => assert.ok(Math.abs(x - one[i]![k]!) < 1e-6, `window ${win}: chunk ${i}`)));
    }
  });

  it('each token comes from the window that owns it, so overlap outputs are dropped', async () => {
    const text = words(30);
    const { source } = toySource(8); // body of 6 tokens per window
    const late = createLateChunkEmbedder(source, { overlapTokens: 2 });
    const perWord = await late.embedChunks(
      text,
      Array.from({ length: 30 }, (_, i) => wordSpan(text, i)),
    );
    const windows = planWindows(32, 1, 1, 6, 2);
    perWord.forEach((v, i) => {
      const t = i + 1;
      const owner = windows.find((w) => t >= w.keepFrom && t < w.end)!;
      const [, marker] = decode(v);
      // Word 0 also averages in [CLS], word 29 [SEP]: both come from the owner window too.
      assert.ok(
        Math.abs(marker - (1000 + owner.start - 1)) < 1e-3,
        `word ${i}: marker ${marker}, owner starts at ${owner.start}`,
      );
    });
  });

  it('a chunk straddling a window edge averages its tokens from both windows', async () => {
    const text = words(20);
    const { source } = toySource(8);
    const [v] = await createLateChunkEmbedder(source, { overlapTokens: 2 }).embedChunks(text, [
      { start: wordSpan(text, 4).start, end: wordSpan(text, 7).end },
    ]);
    const [meanId] = decode(v!);
    assert.ok(Math.abs(meanId - (1000 + (4 + 5 + 6 + 7) / 4)) < 1e-3, `mean id ${meanId}`);
  });

  it('puts the passage instruction before the document and pools its tokens into the first chunk', async () => {
    const { source, calls } = toySource(64, { prefix: 'passage: ' });
    const text = words(4);
    const [first, second] = await createLateChunkEmbedder(source).embedChunks(text, [
      { start: 0, end: wordSpan(text, 1).end },
      { start: wordSpan(text, 2).start, end: text.length },
    ]);
    assert.equal(calls[0]![0]!.length, 1 + 1 + 4 + 1, '[CLS] passage: w0..w3 [SEP]');
    // First chunk: [CLS]=101, "passage:"=1000, w0=1001, w1=1002.
    assert.ok(Math.abs(decode(first!)[0] - (101 + 1000 + 1001 + 1002) / 4) < 1e-3);
    assert.ok(Math.abs(decode(second!)[0] - (1003 + 1004 + 102) / 3) < 1e-3);
  });
});
