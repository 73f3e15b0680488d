import type { TokenCounter } from './chunker.ts';

// A tokenizer-free TokenCounter: one token per word (letters, digits, `_`, with their combining marks), one per run of
// punctuation or symbols, and one per Han/kana character (those scripts write no spaces, so "a word" would be a whole
// sentence). It is subadditive, count(a + b) <= count(a) + count(b), which the recursive chunker relies on when it sums
// the counts of pieces instead of recounting whole chunks.

const WS = 0;
const WORD = 1;
const PUNCT = 2;
/** A character that is a token on its own (Han, Hiragana, Katakana). */
const SOLO = 3;
/** Combining marks, ZWJ, variation selectors: they extend whatever run they follow. */
const CONT = 4;
const UNKNOWN = 255;

const IS_WS = /^\s$/u;
const IS_SOLO = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u;
const IS_CONT = /^[\p{M}\p{Cf}]$/u;
const IS_WORD = /^[\p{L}\p{N}\p{Pc}]$/u;

function classify(ch: string): number {
  if (IS_WS.test(ch)) return WS;
  if (IS_SOLO.test(ch)) return SOLO;
  if (IS_CONT.test(ch)) return CONT;
  if (IS_WORD.test(ch)) return WORD;
  return PUNCT;
}

// Classes are looked up once per distinct character, then read from a table, so counting runs no regex per character.
const bmp = new Uint8Array(0x10000).fill(UNKNOWN);
const astral = new Map<number, number>();

function bmpClass(c: number): number {
  let k = bmp[c]!;
  if (k === UNKNOWN) {
    // Lone surrogates are not characters; they count as punctuation.
    k = c >= 0xd800 && c <= 0xdfff ? PUNCT : classify(String.fromCharCode(c));
    bmp[c] = k;
  }
  return k;
}

function astralClass(cp: number): number {
  let k = astral.get(cp);
  if (k === undefined) {
    k = classify(String.fromCodePoint(cp));
    astral.set(cp, k);
  }
  return k;
}

for (let c = 0; c < 128; c++) bmpClass(c);

export function countWhitespaceTokens(text: string): number {
  let n = 0;
  let prev = WS;
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    let k: number;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        k = astralClass(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000);
        i++;
      } else {
        k = PUNCT;
      }
    } else {
      k = bmp[c]!;
      if (k === UNKNOWN) k = bmpClass(c);
    }
    if (k === WS) {
      prev = WS;
    } else if (k === CONT) {
      if (prev === WS) {
        n++;
        prev = WORD;
      }
    } else if (k === SOLO || k !== prev) {
      n++;
      prev = k;
    }
  }
  return n;
}

export function createWhitespaceTokenCounter(): TokenCounter {
  return { name: 'whitespace', count: countWhitespaceTokens };
}
