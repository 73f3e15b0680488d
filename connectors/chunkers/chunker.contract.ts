import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Chunk, Chunker, TokenCounter } from './chunker.ts';

// The contract every Chunker keeps, run over random Unicode text (emoji, CJK, combining marks, CRLF, Markdown-ish
// lines, abbreviations) cut into random pieces, one UTF-16 unit included (so surrogate pairs and CRLF arrive split).

export interface ChunkerContractCase {
  name: string;
  /** A fresh chunker; called once per run, with inputBatch 1 where the pieces must reach it as they are cut. */
  make: (tuning?: { inputBatch?: number }) => Chunker;
  /** The counter the chunker was built with; it must be subadditive (whitespace, BPE and WordPiece are). */
  counter: TokenCounter;
  /** Most tokens a chunk may hold. */
  limit: number;
  /** Chunks may start before the previous one ended. */
  overlapping?: boolean;
  /** Random texts to try (default 12). */
  texts?: number;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'Straße', 'naïve', 'x', "don't", '42', '3.14'];
const ABBREV = ['e.g.', 'Dr.', 'Mr.', 'i.e.', 'U.S.', 'No.'];
const CJK = ['的', '一', '是', '不', '了', '人', '我', '在', '有', 'の', 'カ', '한국어', '𠀀', '。', '！', '？'];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇩🇪', '❤️', '𝔘𝔫𝔦', '🏳️‍🌈'];
const COMBINING = ['e\u0301', 'n\u0303', 'a\u0308\u0304', '\u0301'];
const GLUE = [' ', ' ', ' ', '  ', '\n', '\r\n', '\n\n', '\r\n\r\n', '. ', '? ', '! ', '\t', ', ', ' \n\n '];
const LINES = [
  '\n# Title\n',
  '\n## Sub **bold**\n',
  '\n```js\nlet a = 1;\n\n```\n',
  '\n| a | b |\n|---|---|\n| 1 | 2 |\n',
  '\nText\n===\n',
  '\n---\n',
  '\n> quote\n',
  '\n- item\n',
];

export function randomText(rnd: () => number, length: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const parts: string[] = [];
  let n = 0;
  while (n < length) {
    const r = rnd();
    let p: string;
    if (r < 0.4) p = pick(WORDS);
    else if (r < 0.45) p = pick(ABBREV);
    else if (r < 0.57) p = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => pick(CJK)).join('');
    else if (r < 0.63) p = pick(EMOJI);
    else if (r < 0.66) p = pick(WORDS) + pick(COMBINING);
    else if (r < 0.67)
      p = Array.from({ length: 20 + Math.floor(rnd() * 400) }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join('');
    else if (r < 0.68) p = pick(EMOJI).repeat(5 + Math.floor(rnd() * 60));
    else if (r < 0.71) p = pick(LINES);
    else p = pick(GLUE);
    parts.push(p);
    n += p.length;
  }
  return parts.join('');
}

export async function* pieces(text: string, size: () => number): AsyncGenerator<string> {
  for (let i = 0; i < text.length;) {
    const n = Math.max(1, size());
    yield text.slice(i, i + n);
    i += n;
  }
}

export async function collect(chunker: Chunker, text: AsyncIterable<string>): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of chunker.chunk(text)) out.push(c);
  return out;
}

const WS_ONLY = /^\s*$/u;

/** Checks one output against the contract; returns nothing, throws on the first violation. */
export function checkChunks(text: string, chunks: Chunk[], c: ChunkerContractCase): void {
  let prev: Chunk | undefined;
  for (const [i, ch] of chunks.entries()) {
    const at = `chunk ${i} [${ch.start}, ${ch.end})`;
    assert.equal(ch.index, i, `${at}: index`);
    assert.ok(ch.start >= 0 && ch.start < ch.end && ch.end <= text.length, `${at}: span inside the text`);
    assert.equal(ch.text, text.slice(ch.start, ch.end), `${at}: text is the span`);
    assert.ok(!WS_ONLY.test(ch.text), `${at}: not whitespace only`);
    assert.ok(ch.tokens <= c.limit, `${at}: ${ch.tokens} tokens > ${c.limit}`);
    const own = c.counter.count(ch.text);
    assert.ok(own <= ch.tokens, `${at}: its text counts ${own} tokens, more than the ${ch.tokens} reported`);
    const p = ch.text.charCodeAt(0);
    assert.ok(!(p >= 0xdc00 && p <= 0xdfff), `${at}: starts inside a surrogate pair`);
    const q = ch.text.charCodeAt(ch.text.length - 1);
    assert.ok(!(q >= 0xd800 && q <= 0xdbff), `${at}: ends inside a surrogate pair`);
    const gapFrom = prev ? prev.end : 0;
    if (prev) {
      assert.ok(ch.start > prev.start && ch.end > prev.end, `${at}: after chunk ${i - 1} [${prev.start}, ${prev.end})`);
      if (!c.overlapping) assert.ok(ch.start >= prev.end, `${at}: overlaps chunk ${i - 1}`);
    }
    if (ch.start > gapFrom) assert.match(text.slice(gapFrom, ch.start), WS_ONLY, `${at}: only whitespace is left out before it`);
    prev = ch;
  }
  assert.match(text.slice(prev ? prev.end : 0), WS_ONLY, 'only whitespace is left out at the end');
}

export function chunkerContract(c: ChunkerContractCase): void {
  describe(`${c.name}: Chunker contract`, () => {
    it('chunks are exact, ordered spans that cover all but whitespace and stay within the token limit', async () => {
      const rnd = mulberry32(7);
      for (let t = 0; t < (c.texts ?? 12); t++) {
        const text = randomText(rnd, 200 + Math.floor(rnd() * 4000));
        checkChunks(
          text,
          await collect(
            c.make(),
            pieces(text, () => text.length),
          ),
          c,
        );
      }
    });

    it('output does not depend on how the text is cut into pieces', async () => {
      const rnd = mulberry32(11);
      for (let t = 0; t < (c.texts ?? 12); t++) {
        const text = randomText(rnd, 200 + Math.floor(rnd() * 4000));
        const whole = await collect(
          c.make(),
          pieces(text, () => text.length),
        );
        const ones = await collect(
          c.make({ inputBatch: 1 }),
          pieces(text, () => 1),
        );
        assert.deepEqual(ones, whole, `text ${t}: one unit per piece`);
        const random = await collect(
          c.make({ inputBatch: 1 }),
          pieces(text, () => Math.floor(rnd() * 300)),
        );
        assert.deepEqual(random, whole, `text ${t}: random pieces`);
      }
    });

    it('empty and whitespace-only input give no chunks; the spec is stable', async () => {
      assert.deepEqual(
        await collect(
          c.make(),
          pieces('', () => 1),
        ),
        [],
      );
      assert.deepEqual(
        await collect(
          c.make(),
          pieces(' \r\n\n\t ', () => 2),
        ),
        [],
      );
      assert.equal(c.make().spec, c.make().spec);
      assert.match(c.make().spec, /^[a-z]+:v\d+:/);
    });
  });
}
