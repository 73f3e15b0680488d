import type { TokenCounter } from '../chunker.ts';

// Sentences for meta-chunking, cut the way Meta-Chunking cuts them (terminal punctuation, Chinese full stops, line
// breaks), found on a stream. Each sentence keeps the whitespace after it, so consecutive sentences tile the text.
//
// Streaming: a sentence end is taken only once the whitespace run after the punctuation is complete (a non-space
// character follows it, or the input ended), so where the input pieces were cut never changes the sentences. A run of
// text without any sentence end is cut at the last whitespace within `maxChars` of its start (or at `maxChars`), which
// depends only on that text, so memory stays bounded by `maxChars` plus the incoming piece.

export interface Sentence {
  start: number;
  end: number;
  text: string;
}

// A run of terminal punctuation is matched only from its first character and never given back ((?<!…), (?!…)):
// otherwise a run of n periods with no space after it is retried from each of its n characters, each retry
// rescanning the rest of it (O(n²); 64 K periods took over a minute). END_AT covers a search that starts inside a
// run, which happens after a cut at maxChars.
const END = /(?<![.!?…])[.!?…]+(?![.!?…])["'”’)\]]*\s+|[。！？]+[”’」』）)]*\s*|\n\s*/gu;
const END_AT = /[.!?…]+(?![.!?…])["'”’)\]]*\s+/uy;
const PUNCT_RUN = /^[.!?…"'”’)\]。！？」』）]+$/u;
const NON_WS = /\S/u;
const LAST_WS = /\s(?=\S*$)/u;

/** Where the next sentence ends in `buf` (scanning from `from`), or -1 while that is not known yet. */
function findEnd(buf: string, from: number, maxChars: number, eof: boolean): number {
  const limit = from + maxChars;
  END_AT.lastIndex = from;
  END.lastIndex = from;
  const m = END_AT.exec(buf) ?? END.exec(buf);
  if (m && m.index < limit) {
    const end = m.index + m[0].length;
    if (end < buf.length || eof) return end;
    return -1;
  }
  if (buf.length <= limit) return eof ? buf.length : -1;
  // No sentence end starts before the limit, unless a punctuation run that began before it is still open.
  if (!eof && PUNCT_RUN.test(buf.slice(limit - 1))) return -1;
  const head = buf.slice(from, limit);
  const ws = LAST_WS.exec(head);
  let cut = ws && ws.index > 0 ? from + ws.index + 1 : limit;
  const c = buf.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return cut;
}

/** Splits a stream into sentences; whitespace-only stretches join the sentence after them (the last one's are dropped). */
export async function* sentences(input: AsyncIterable<string>, maxChars: number): AsyncGenerator<Sentence> {
  let buf = '';
  let bufStart = 0;
  let start = 0;
  let scan = 0;
  const drain = function* (eof: boolean): Generator<Sentence> {
    for (;;) {
      const end = findEnd(buf, scan - bufStart, maxChars, eof);
      if (end < 0) return;
      const absEnd = bufStart + end;
      if (absEnd <= scan) return;
      const text = buf.slice(start - bufStart, end);
      scan = absEnd;
      if (NON_WS.test(text)) {
        yield { start, end: absEnd, text };
        start = absEnd;
      }
    }
  };
  for await (const piece of input) {
    if (start > bufStart) {
      buf = buf.slice(start - bufStart);
      bufStart = start;
    }
    buf += piece;
    yield* drain(false);
  }
  yield* drain(true);
}

/**
 * Cuts a sentence longer than `maxTokens` into pieces that fit, at whitespace where possible (binary search over the
 * cut points, so a long sentence costs O(log n) counts per piece).
 */
export function capSentence(s: Sentence, counter: TokenCounter, maxTokens: number): Sentence[] {
  if (counter.count(s.text) <= maxTokens) return [s];
  const out: Sentence[] = [];
  let from = 0;
  const t = s.text;
  while (from < t.length) {
    if (counter.count(t.slice(from)) <= maxTokens) {
      out.push({ start: s.start + from, end: s.end, text: t.slice(from) });
      break;
    }
    // Largest end in (from, t.length] whose piece fits; pieces only grow with their end.
    let lo = from + 1;
    let hi = t.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (counter.count(t.slice(from, mid)) <= maxTokens) lo = mid;
      else hi = mid - 1;
    }
    let end = lo;
    const ws = LAST_WS.exec(t.slice(from, end));
    if (ws && ws.index > 0 && end < t.length) end = from + ws.index + 1;
    const c = t.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff && end - 1 > from) end--;
    out.push({ start: s.start + from, end: s.start + end, text: t.slice(from, end) });
    from = end;
  }
  return out;
}
