import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lengthIn, OffsetError, OffsetUnit, spansToUtf16, toUtf16 } from './offsets.ts';

// A small seeded generator, so a failing case can be replayed from its seed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// 1-, 2-, 3- and 4-byte characters, combining marks, CJK, emoji with ZWJ, and a lone surrogate.
const ALPHABET = ['a', 'Z', ' ', '\n', 'é', 'ß', 'Ω', '中', '€', '\u0301', '😀', '𝄞', '\u200d', '👩‍💻', '\ud800'];

function randomText(r: () => number, maxChars: number): string {
  const n = Math.floor(r() * maxChars);
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

/** Every code point boundary of `text`, in the three units, computed independently of the code under test. */
function boundaries(text: string): { utf16: number[]; cps: number[]; bytes: number[] } {
  const utf16 = [0];
  const cps = [0];
  const bytes = [0];
  let u = 0;
  let b = 0;
  Array.from(text).forEach((ch, i) => {
    u += ch.length;
    b += Buffer.byteLength(ch, 'utf8');
    utf16.push(u);
    cps.push(i + 1);
    bytes.push(b);
  });
  return { utf16, cps, bytes };
}

describe('offsets to UTF-16', () => {
  it('byte offsets and code-point offsets of the same boundaries map to the same UTF-16 indices', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = rng(seed);
      const text = randomText(r, 60);
      const { utf16, cps, bytes } = boundaries(text);
      // A random multiset of boundaries, in random order, as tokenizers may report them.
      const picks = Array.from({ length: 1 + Math.floor(r() * 20) }, () => Math.floor(r() * utf16.length));
      const fromBytes = toUtf16(
        text,
        picks.map((k) => bytes[k]!),
        OffsetUnit.Utf8Bytes,
      );
      const fromCps = toUtf16(
        text,
        picks.map((k) => cps[k]!),
        OffsetUnit.CodePoints,
      );
      const want = picks.map((k) => utf16[k]!);
      assert.deepEqual(fromBytes, want, `seed ${seed}: bytes`);
      assert.deepEqual(fromCps, want, `seed ${seed}: code points`);
      assert.deepEqual(toUtf16(text, want, OffsetUnit.Utf16), want, `seed ${seed}: utf16`);
      assert.equal(lengthIn(text, OffsetUnit.Utf8Bytes), bytes[bytes.length - 1], `seed ${seed}: byte length`);
      assert.equal(lengthIn(text, OffsetUnit.CodePoints), cps.length - 1, `seed ${seed}: code points length`);
    }
  });

  it('maps token spans from a byte source and a code-point source to identical UTF-16 spans, nulls kept', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed * 7919);
      const text = randomText(r, 40);
      const { utf16, cps, bytes } = boundaries(text);
      const ks: [number, number][] = [];
      for (let i = 0; i + 1 < utf16.length; i += 1 + Math.floor(r() * 3))
        ks.push([i, Math.min(utf16.length - 1, i + 1 + Math.floor(r() * 3))]);
      const withNulls = <T>(xs: T[]): (T | null)[] => [null, ...xs, null];
      const b = spansToUtf16(
        text,
        withNulls(ks.map(([s, e]) => [bytes[s]!, bytes[e]!] as [number, number])),
        OffsetUnit.Utf8Bytes,
      );
      const c = spansToUtf16(text, withNulls(ks.map(([s, e]) => [cps[s]!, cps[e]!] as [number, number])), OffsetUnit.CodePoints);
      assert.deepEqual(b, c, `seed ${seed}`);
      assert.deepEqual(b, withNulls(ks.map(([s, e]) => [utf16[s]!, utf16[e]!])), `seed ${seed}`);
    }
  });

  it('rejects offsets inside a character or past the end', () => {
    assert.throws(() => toUtf16('é', [1], OffsetUnit.Utf8Bytes), OffsetError);
    assert.throws(() => toUtf16('😀', [2], OffsetUnit.Utf8Bytes), OffsetError);
    assert.throws(() => toUtf16('ab', [3], OffsetUnit.CodePoints), OffsetError);
    assert.throws(() => toUtf16('ab', [-1], OffsetUnit.Utf8Bytes), OffsetError);
    assert.throws(() => toUtf16('ab', [1.5], OffsetUnit.Utf16), OffsetError);
    assert.deepEqual(toUtf16('😀x', [4, 0, 5], OffsetUnit.Utf8Bytes), [2, 0, 3]);
    assert.deepEqual(toUtf16('😀x', [1, 2], OffsetUnit.CodePoints), [2, 3]);
    assert.deepEqual(toUtf16('', [], OffsetUnit.Utf8Bytes), []);
  });
});
