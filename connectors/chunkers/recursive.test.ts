import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Chunk, TokenCounter } from './chunker.ts';
import { createRecursiveChunker, DEFAULT_SEPARATORS, type RecursiveChunkerTuning } from './recursive.ts';
import { countWhitespaceTokens, createWhitespaceTokenCounter } from './whitespace-counter.ts';

const ws = createWhitespaceTokenCounter();
/** A BPE-like counter where whitespace costs tokens too; subadditive like real tokenizers. */
const thirds: TokenCounter = { name: 'thirds', count: (t) => Math.ceil(t.length / 3) };

interface Opts {
  chunkSize: number;
  chunkOverlap: number;
  maxChunkChars?: number;
  separators?: string[];
}

async function* pieces(text: string, sizes: () => number): AsyncGenerator<string> {
  for (let i = 0; i < text.length;) {
    const n = Math.max(1, sizes());
    yield text.slice(i, i + n);
    i += n;
  }
}

async function run(text: string, opts: Opts, counter: TokenCounter, sizes: () => number, tuning: RecursiveChunkerTuning = {}) {
  const out: Chunk[] = [];
  for await (const c of createRecursiveChunker(opts, counter, tuning).chunk(pieces(text, sizes))) out.push(c);
  return out;
}

const whole = (text: string) => () => Math.max(1, text.length);

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'the',
  'quick',
  'brown',
  'fox',
  'jumps',
  'over',
  'lazy',
  'dog',
  'Straße',
  'naïve',
  'x',
  'I',
  "don't",
  '42',
  'e.g.',
];
const CJK = ['的', '一', '是', '不', '了', '人', '我', '在', '有', '他', '这', '中', '大', '来', 'の', 'カ', '한국어', '𠀀'];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇩🇪', '❤️', '𝔘𝔫𝔦', '🏳️‍🌈'];
const COMBINING = ['e\u0301', 'n\u0303', 'a\u0308\u0304', '\u0301'];
const GLUE = [' ', ' ', ' ', ' ', '  ', '\n', '\r\n', '\n\n', '\r\n\r\n', '. ', '? ', '! ', '。', '\t', ', ', ' \n\n '];

function randomText(rnd: () => number, length: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const parts: string[] = [];
  let n = 0;
  while (n < length) {
    const r = rnd();
    let p: string;
    if (r < 0.45) p = pick(WORDS);
    else if (r < 0.6) p = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => pick(CJK)).join('');
    else if (r < 0.68) p = pick(EMOJI);
    else if (r < 0.72) p = pick(WORDS) + pick(COMBINING);
    else if (r < 0.74) {
      // A word longer than any chunk: by tokens for `thirds`, by characters for the cap.
      const len = 20 + Math.floor(rnd() * (rnd() < 0.2 ? 3000 : 300));
      p = Array.from({ length: len }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join('');
    } else if (r < 0.75) p = pick(EMOJI).repeat(5 + Math.floor(rnd() * 60));
    else p = pick(GLUE);
    parts.push(p);
    n += p.length;
  }
  return parts.join('');
}

/** The intended semantics written the simple way: the whole text at hand, recursion over spans, arrays shifted. */
function reference(text: string, o: Opts, counter: TokenCounter): Chunk[] {
  const maxChars = o.maxChunkChars ?? o.chunkSize * 16;
  let seps = o.separators ?? [...DEFAULT_SEPARATORS];
  seps = seps.includes('') ? seps.slice(0, seps.indexOf('') + 1) : [...seps, ''];
  const out: Chunk[] = [];
  let win: { s: number; e: number; t: number }[] = [];
  const sum = () => win.reduce((a, p) => a + p.t, 0);
  const emit = () => {
    const s = win[0]!.s;
    const e = win[win.length - 1]!.e;
    const t = text.slice(s, e);
    if (/\S/u.test(t)) out.push({ index: out.length, start: s, end: e, text: t, tokens: sum() });
  };
  const fits = (p: { e: number; t: number }) => sum() + p.t <= o.chunkSize && p.e - win[0]!.s <= maxChars;
  const add = (p: { s: number; e: number; t: number }) => {
    if (win.length > 0 && !fits(p)) {
      emit();
      const long = () => win[win.length - 1]!.e - win[0]!.s > Math.floor(maxChars / 2);
      while (win.length > 0 && (sum() > o.chunkOverlap || !fits(p) || long())) win.shift();
    }
    win.push(p);
  };
  const flush = () => {
    if (win.length > 0) emit();
    win = [];
  };
  const split = (s: number, e: number, depth: number) => {
    const sep = seps[depth]!;
    const ps: [number, number][] = [];
    if (sep === '') {
      for (let i = s; i < e;) {
        const c = text.charCodeAt(i);
        const d = text.charCodeAt(i + 1);
        const n = c >= 0xd800 && c <= 0xdbff && i + 1 < e && d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
        ps.push([i, i + n]);
        i += n;
      }
    } else {
      let pos = s;
      for (let at = text.indexOf(sep, pos); at >= 0 && at + sep.length <= e; at = text.indexOf(sep, pos)) {
        ps.push([pos, at + sep.length]);
        pos = at + sep.length;
      }
      if (pos < e) ps.push([pos, e]);
    }
    for (const [a, b] of ps) {
      const t = counter.count(text.slice(a, b));
      const isWholeSpan = depth > 0 && a === s && b === e;
      if (sep !== '' && (b - a > maxChars || isWholeSpan || t > o.chunkSize)) {
        flush();
        split(a, b, depth + 1);
      } else {
        add({ s: a, e: b, t });
      }
    }
    flush();
  };
  split(0, text.length, 0);
  return out;
}

function checkInvariants(text: string, chunks: Chunk[], o: Opts, counter: TokenCounter): void {
  const maxChars = o.maxChunkChars ?? o.chunkSize * 16;
  const isHigh = (i: number) =>
    i > 0 && i < text.length && /[\uD800-\uDBFF]/.test(text[i - 1]!) && /[\uDC00-\uDFFF]/.test(text[i]!);
  chunks.forEach((c, i) => {
    assert.equal(c.index, i);
    assert.equal(c.text, text.slice(c.start, c.end));
    assert.ok(c.end > c.start && c.end - c.start <= maxChars, `chunk ${i} length ${c.end - c.start}`);
    assert.ok(c.tokens <= o.chunkSize, `chunk ${i} has ${c.tokens} tokens`);
    assert.ok(counter.count(c.text) <= c.tokens, `chunk ${i} undercounts`);
    assert.ok(/\S/u.test(c.text), `chunk ${i} is whitespace only`);
    assert.ok(!isHigh(c.start) && !isHigh(c.end), `chunk ${i} cuts a surrogate pair`);
    if (i > 0) {
      assert.ok(c.start > chunks[i - 1]!.start, `chunk ${i} starts before the previous one`);
      assert.ok(c.end > chunks[i - 1]!.end, `chunk ${i} ends before the previous one`);
    }
  });
  // Every non-whitespace character lies in some chunk (ends increase, so one sweep over the chunks suffices).
  let k = 0;
  for (let i = 0; i < text.length; i++) {
    while (k < chunks.length && chunks[k]!.end <= i) k++;
    if (/\s/u.test(text[i]!)) continue;
    assert.ok(k < chunks.length && chunks[k]!.start <= i, `character ${i} (${JSON.stringify(text[i])}) is in no chunk`);
  }
}

describe('recursive chunker: exact output', () => {
  it('merges words with overlap at piece boundaries', async () => {
    const text = 'a b c d e f g h';
    const got = await run(text, { chunkSize: 4, chunkOverlap: 1 }, ws, whole(text));
    assert.deepEqual(
      got.map((c) => [c.start, c.end, c.text, c.tokens]),
      [
        [0, 8, 'a b c d ', 4],
        [6, 14, 'd e f g ', 4],
        [12, 15, 'g h', 2],
      ],
    );
  });

  it('keeps paragraphs whole when they fit and splits a long one by sentences, separators at the end', async () => {
    const text = 'One two.\n\nThree four. Five six seven. Eight nine.\n\nTen.';
    const got = await run(text, { chunkSize: 6, chunkOverlap: 0 }, ws, whole(text));
    assert.deepEqual(
      got.map((c) => c.text),
      ['One two.\n\n', 'Three four. ', 'Five six seven. ', 'Eight nine.\n', 'Ten.'],
    );
  });

  it('splits a run with no separator by code points, never inside a surrogate pair', async () => {
    const text = '😀'.repeat(10);
    const got = await run(text, { chunkSize: 4, chunkOverlap: 1, maxChunkChars: 16 }, ws, whole(text));
    assert.deepEqual(
      got.map((c) => [c.start, c.end]),
      [
        [0, 8],
        [6, 14],
        [12, 20],
      ],
    );
  });

  it('splits CJK sentences at 。', async () => {
    const text = '我是人。他在这。大来了。';
    const got = await run(text, { chunkSize: 5, chunkOverlap: 0 }, ws, whole(text));
    assert.deepEqual(
      got.map((c) => c.text),
      ['我是人。', '他在这。', '大来了。'],
    );
  });

  it('yields nothing for empty or whitespace-only input', async () => {
    assert.deepEqual(await run('', { chunkSize: 8, chunkOverlap: 0 }, ws, () => 1), []);
    assert.deepEqual(await run(' \n\n\t\r\n  ', { chunkSize: 8, chunkOverlap: 0 }, ws, () => 1), []);
  });

  it('validates its config and describes itself in the spec', () => {
    assert.throws(() => createRecursiveChunker({ chunkSize: 16, chunkOverlap: 16 }, ws));
    assert.throws(() => createRecursiveChunker({ chunkSize: 0 }, ws));
    const a = createRecursiveChunker({}, ws).spec;
    assert.match(a, /^recursive:v1:size=256:overlap=32:chars=4096:tok=whitespace:sep=[0-9a-f]{12}$/);
    assert.notEqual(createRecursiveChunker({ separators: ['\n', ' '] }, ws).spec, a);
    assert.notEqual(createRecursiveChunker({}, thirds).spec, a);
  });
});

describe('whitespace token counter', () => {
  it('counts words, punctuation runs and single Han/kana characters', () => {
    assert.equal(countWhitespaceTokens(''), 0);
    assert.equal(countWhitespaceTokens('  \n\t'), 0);
    assert.equal(countWhitespaceTokens('Hello, world!'), 4);
    assert.equal(countWhitespaceTokens('naïve cafe\u0301 foo_bar'), 3);
    assert.equal(countWhitespaceTokens('我是人。'), 4);
    assert.equal(countWhitespaceTokens('👨‍👩‍👧‍👦 ok 𝔘𝔫𝔦'), 3);
  });
});

describe('recursive chunker: properties over random Unicode text', () => {
  const configs: [Opts, TokenCounter][] = [
    [{ chunkSize: 4, chunkOverlap: 0 }, ws],
    [{ chunkSize: 8, chunkOverlap: 3 }, ws],
    [{ chunkSize: 32, chunkOverlap: 8 }, ws],
    [{ chunkSize: 64, chunkOverlap: 16, maxChunkChars: 40 }, ws],
    [{ chunkSize: 128, chunkOverlap: 32 }, ws],
    [{ chunkSize: 16, chunkOverlap: 4 }, thirds],
    [{ chunkSize: 50, chunkOverlap: 10, separators: ['\n', ' '] }, ws],
    [{ chunkSize: 20, chunkOverlap: 5, separators: ['。', '', '\n'] }, thirds],
  ];

  for (const [o, counter] of configs) {
    it(`size=${o.chunkSize} overlap=${o.chunkOverlap} cap=${o.maxChunkChars ?? '-'} sep=${o.separators?.length ?? 'default'} tok=${counter.name}`, async () => {
      const rnd = mulberry32(o.chunkSize * 7919 + o.chunkOverlap);
      for (let doc = 0; doc < 25; doc++) {
        const text = randomText(rnd, Math.floor(rnd() * 4000));
        const expected = await run(text, o, counter, whole(text));
        checkInvariants(text, expected, o, counter);
        assert.deepEqual(expected, reference(text, o, counter), `doc ${doc}: differs from the reference`);
        const tiny = await run(text, o, counter, () => 1 + Math.floor(rnd() * 7), { inputBatch: 1 });
        assert.deepEqual(tiny, expected, `doc ${doc}: 1..7 char pieces differ`);
        const batch = 1 + Math.floor(rnd() * 500);
        const ragged = await run(text, o, counter, () => Math.floor(rnd() * 300), { inputBatch: batch });
        assert.deepEqual(ragged, expected, `doc ${doc}: ragged pieces (batch ${batch}) differ`);
      }
    });
  }

  it('gives identical chunks for 1 piece, 1..7 char pieces and 64 KB pieces of a 400 KB document', async () => {
    const rnd = mulberry32(2024);
    const text = randomText(rnd, 400_000);
    const o = { chunkSize: 48, chunkOverlap: 8 };
    const expected = await run(text, o, ws, whole(text));
    checkInvariants(text, expected, o, ws);
    assert.deepEqual(expected, reference(text, o, ws));
    assert.deepEqual(await run(text, o, ws, () => 65_536), expected);
    assert.deepEqual(await run(text, o, ws, () => 1 + Math.floor(rnd() * 7)), expected);
    assert.deepEqual(await run(text, o, ws, () => 1 + Math.floor(rnd() * 7), { inputBatch: 1 }), expected);
  });
});

describe('recursive chunker: bounded memory', () => {
  const o = { chunkSize: 64, chunkOverlap: 8 };
  const maxChars = 64 * 16;
  const cases: [string, (i: number) => string][] = [
    ['one endless line of prose', (i) => `${WORDS[i % WORDS.length]} `],
    ['one endless word', () => 'abcdefghij'],
    ['one endless run of emoji', () => '👍🏽😀'],
    ['paragraphs', (i) => (i % 50 === 49 ? '\n\n' : `${WORDS[i % WORDS.length]}. `)],
  ];
  for (const [name, part] of cases) {
    it(`holds about 2 × maxChunkChars plus one batch for ${name}`, async () => {
      const batch = 4096;
      let most = 0;
      async function* gen(): AsyncGenerator<string> {
        for (let i = 0; i < 2_000; i++) yield Array.from({ length: 100 }, (_, j) => part(i * 100 + j)).join('');
      }
      let n = 0;
      const chunker = createRecursiveChunker(o, ws, { inputBatch: batch, onBuffered: (u) => (most = Math.max(most, u)) });
      for await (const c of chunker.chunk(gen())) {
        assert.equal(c.index, n++);
        assert.ok(c.tokens <= o.chunkSize);
      }
      assert.ok(n > 100, `only ${n} chunks`);
      assert.ok(most <= 2 * maxChars + 2 * batch, `held ${most} units`);
    });
  }
});
