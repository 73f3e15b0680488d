import { z } from 'zod';
import type { Chunk, Chunker, TokenCounter } from './chunker.ts';
import { addSpan, type ChunkerTuning, batched, Packer, type PackerSettings, safeCut, TextBuffer, take } from './pack.ts';

// Sentence chunking: sentences are found by Intl.Segmenter (ICU's Unicode sentence rules: decimals like 3.14, a
// lower-case word after "e.g.", CJK 。！？ and closing quotes are handled there), then packed up to chunkSize tokens.
// Two adjustments to ICU:
//  - ICU ends a sentence at every line break, which cuts hard-wrapped prose (Markdown, reST, plain-text manuals) into
//    lines. Here only a blank line is a hard break: single line breaks are shown to ICU as spaces (same length, so
//    offsets hold).
//  - ICU breaks after a period followed by a capital ("Dr. Smith"); a break after a known abbreviation or a single
//    capital initial ("J. R. R. Tolkien") is taken back.
// Streaming: paragraphs (text up to a blank line) are segmented one at a time and nothing after a blank line changes
// the sentences before it, so the output never depends on how the input was cut. A paragraph longer than PARA_CAP
// is segmented in PARA_CAP windows, which keeps memory bounded.

export const SentenceChunkerConfig = z
  .object({
    chunkSize: z.number().int().min(4).default(256),
    /** Tokens of whole sentences repeated at the start of the next chunk. */
    chunkOverlap: z.number().int().min(0).default(0),
    maxChunkChars: z.number().int().min(16).optional(),
    /** BCP 47 locale for the segmenter. */
    locale: z.string().default('en'),
  })
  .refine((c) => c.chunkOverlap < c.chunkSize, { message: 'chunkOverlap must be smaller than chunkSize' });
export type SentenceChunkerConfig = z.input<typeof SentenceChunkerConfig>;

const PARA_CAP = 256 * 1024;
const BLANK_LINE = /\n[^\S\n]*\n/g;
const LINE_BREAKS = /[\r\n\v\f\x85\u2028\u2029]/g;
// Titles and Latin abbreviations that rarely end a sentence; "etc." and "Inc." often do, so they are not here.
const ABBREVIATIONS = new Set(
  'Mr Mrs Ms Mx Dr Prof Sr Jr St Mt Rev Hon Gen Col Capt Lt Sgt Gov Sen Rep Pres vs e.g i.e cf viz al Fig fig Figs Eq Eqs No Nos Vol vol pp approx ca Ch ch Sec sec Dept'.split(
    ' ',
  ),
);
const MAX_ABBREVIATION = Math.max(...[...ABBREVIATIONS].map((a) => a.length));
const WS = /\s/u;
const LETTER = /\p{L}/u;
const UPPER = /^\p{Lu}$/u;
/** Closing brackets and quotes allowed between an abbreviation's period and the end of the sentence. */
const CLOSERS = new Set([...')]}"\'”’']);
/** What may come before a word: the start, whitespace or an opening bracket or quote. */
const OPENERS = new Set([...'([{"\'“‘']);

/**
 * Does `text[from, stop)` end with a known abbreviation or an initial ("word." then closers and whitespace)? Scanned
 * backwards from `stop` by hand: ICU cuts "Dr. Dr. Dr. …" after every period and every cut is taken back, so a
 * pattern run over the whole sentence so far would cost O(n²) over a paragraph. `run` remembers where the last
 * run of letters and periods started, so a word cut many times (a long "A.B.C.…") is scanned once.
 */
function endsWithAbbreviation(text: string, from: number, stop: number, run: { start: number; end: number }): boolean {
  let e = stop;
  while (e > from && WS.test(text[e - 1]!)) e--;
  while (e > from && CLOSERS.has(text[e - 1]!)) e--;
  const dot = e - 1;
  if (dot <= from || text[dot] !== '.') return false;
  // The word: the run of letters and periods before the dot, starting with a letter after an opener (or at `from`).
  let k = dot;
  while (k > from) {
    if (k <= run.end && k > run.start) {
      k = Math.max(run.start, from);
      break;
    }
    const p = codePointStart(text, k - 1);
    if (text[p] !== '.' && !LETTER.test(String.fromCodePoint(text.codePointAt(p)!))) break;
    k = p;
  }
  run.start = k;
  run.end = dot;
  if (k === dot || text[k] === '.') return false;
  if (k > from && !WS.test(text[k - 1]!) && !OPENERS.has(text[k - 1]!)) return false;
  if (dot - k <= MAX_ABBREVIATION && ABBREVIATIONS.has(text.slice(k, dot))) return true;
  // An initial: "J." or the last letter of "U.S.".
  const last = codePointStart(text, dot - 1);
  return (last === k || text[last - 1] === '.') && UPPER.test(String.fromCodePoint(text.codePointAt(last)!));
}

/** Index of the code point that ends at `i` (steps back over a surrogate pair). */
function codePointStart(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff && i > 0 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800 ? i - 1 : i;
}

/** Finds sentence spans in a TextBuffer as text arrives; `pos` is where the unsegmented text starts. */
export class SentenceScanner {
  pos = 0;
  readonly #tb: TextBuffer;
  readonly #segmenter: Intl.Segmenter;

  constructor(tb: TextBuffer, locale: string) {
    this.#tb = tb;
    this.#segmenter = new Intl.Segmenter(locale, { granularity: 'sentence' });
  }

  /** Spans of the sentences that are final; with `eof`, of every sentence left. */
  scan(eof: boolean): [number, number][] {
    const tb = this.#tb;
    const out: [number, number][] = [];
    while (this.pos < tb.end) {
      BLANK_LINE.lastIndex = this.pos - tb.start;
      const m = BLANK_LINE.exec(tb.buf);
      let end = m ? tb.start + m.index + m[0].length : -1;
      if (end < 0 || end - this.pos > PARA_CAP) {
        if (tb.end - this.pos > PARA_CAP) end = safeCut(tb, this.pos + PARA_CAP);
        else if (eof) end = tb.end;
        else break;
      }
      this.#segment(this.pos, end, out);
      this.pos = end;
    }
    return out;
  }

  #segment(start: number, end: number, out: [number, number][]): void {
    const text = this.#tb.slice(start, end).replace(LINE_BREAKS, ' ');
    let from = -1;
    const run = { start: 0, end: 0 };
    for (const { segment, index } of this.#segmenter.segment(text)) {
      if (from < 0) from = index;
      const stop = index + segment.length;
      if (stop < text.length && endsWithAbbreviation(text, from, stop, run)) continue;
      out.push([start + from, start + stop]);
      from = -1;
    }
  }
}

export function createSentenceChunker(config: SentenceChunkerConfig, counter: TokenCounter, tuning: ChunkerTuning = {}): Chunker {
  const c = SentenceChunkerConfig.parse(config);
  const s: PackerSettings = { limit: c.chunkSize, overlap: c.chunkOverlap, maxChars: c.maxChunkChars ?? c.chunkSize * 16 };
  return {
    spec: `sentence:v1:size=${s.limit}:overlap=${s.overlap}:chars=${s.maxChars}:locale=${c.locale}:tok=${counter.name}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      const tb = new TextBuffer();
      const packer = new Packer(tb, s);
      const scanner = new SentenceScanner(tb, c.locale);
      const run = (eof: boolean) => {
        for (const [a, b] of scanner.scan(eof)) addSpan(packer, tb, a, b, counter, s);
      };
      for await (const piece of batched(text, tuning.inputBatch)) {
        tb.append(piece, packer.keepFrom(scanner.pos));
        run(false);
        tuning.onBuffered?.(tb.buf.length);
        for (const chunk of take(packer.out)) yield chunk;
      }
      run(true);
      packer.flush();
      for (const chunk of take(packer.out)) yield chunk;
    },
  };
}
