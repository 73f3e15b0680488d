/**
 * Token offsets arrive in whatever unit the tokenizer counts: Rust tokenizers behind TEI report UTF-8 byte offsets,
 * the npm `tokenizers` binding reports Unicode code points, and our chunks use UTF-16 indices (JavaScript strings).
 * These converters map any of them to UTF-16 in one pass over the text, whatever order the offsets come in.
 */

export const OffsetUnit = {
  Utf8Bytes: 'utf8-bytes',
  CodePoints: 'code-points',
  Utf16: 'utf16',
} as const;
export type OffsetUnit = (typeof OffsetUnit)[keyof typeof OffsetUnit];

/** An offset that is out of range or falls inside a character; the caller decides how bad that is. */
export class OffsetError extends RangeError {
  override name = 'OffsetError';
}

/** Size of one code point in the given unit; `cp` is the code point, `units` its UTF-16 length (1 or 2). */
function width(unit: OffsetUnit, cp: number, units: number): number {
  if (unit === OffsetUnit.Utf16) return units;
  if (unit === OffsetUnit.CodePoints) return 1;
  // A lone surrogate is encoded as U+FFFD (3 bytes) by every UTF-8 encoder, Buffer and TextEncoder included.
  if (cp >= 0xd800 && cp <= 0xdfff) return 3;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * Maps offsets counted in `unit` over `text` to UTF-16 indices. Every offset must sit on a code point boundary and
 * within the text (0..length inclusive); otherwise an OffsetError names the first bad one.
 */
export function toUtf16(text: string, offsets: readonly number[], unit: OffsetUnit): number[] {
  const out = new Array<number>(offsets.length);
  if (offsets.length === 0) return out;
  if (unit === OffsetUnit.Utf16) {
    for (let i = 0; i < offsets.length; i++) {
      const o = offsets[i]!;
      if (!Number.isInteger(o) || o < 0 || o > text.length) throw new OffsetError(`offset ${o} is outside 0..${text.length}`);
      out[i] = o;
    }
    return out;
  }
  // Visit the offsets in ascending order while walking the text once.
  const order = Array.from(offsets.keys()).sort((a, b) => offsets[a]! - offsets[b]!);
  let k = 0;
  let pos = 0; // in `unit`
  let idx = 0; // in UTF-16
  while (k < order.length) {
    const want = offsets[order[k]!]!;
    if (!Number.isInteger(want) || want < 0) throw new OffsetError(`offset ${want} is not a non-negative integer`);
    if (want === pos) {
      out[order[k++]!] = idx;
      continue;
    }
    if (idx >= text.length) throw new OffsetError(`offset ${want} ${unit} is past the end of the text (${pos})`);
    const cp = text.codePointAt(idx)!;
    const units = cp > 0xffff ? 2 : 1;
    const next = pos + width(unit, cp, units);
    if (want < next) throw new OffsetError(`offset ${want} ${unit} falls inside the character at UTF-16 index ${idx}`);
    pos = next;
    idx += units;
  }
  return out;
}

/** Maps `[start, end)` pairs (null for tokens with no text, such as special tokens) to UTF-16. */
export function spansToUtf16(
  text: string,
  spans: readonly (readonly [number, number] | null)[],
  unit: OffsetUnit,
): ([number, number] | null)[] {
  const flat: number[] = [];
  for (const s of spans) if (s) flat.push(s[0], s[1]);
  const mapped = toUtf16(text, flat, unit);
  let j = 0;
  return spans.map((s) => (s ? [mapped[j++]!, mapped[j++]!] : null));
}

/** Length of `text` in the given unit (UTF-8 bytes as Buffer.byteLength counts them). */
export function lengthIn(text: string, unit: OffsetUnit): number {
  if (unit === OffsetUnit.Utf16) return text.length;
  if (unit === OffsetUnit.Utf8Bytes) return Buffer.byteLength(text, 'utf8');
  let n = 0;
  for (const _ of text) n++;
  return n;
}
