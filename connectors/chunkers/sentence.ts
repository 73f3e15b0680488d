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
const LAST_WORD = /(?:^|[\s([{"'“‘])([\p{L}][\p{L}.]*)\.[)\]}"'”’]*\s*$/u;

function endsWithAbbreviation(sentence: string): boolean {
  const m = LAST_WORD.exec(sentence);
  if (!m) return false;
  const word = m[1]!;
  if (ABBREVIATIONS.has(word)) return true;
  // An initial: "J." or the last letter of "U.S.".
  const last = word.slice(word.lastIndexOf('.') + 1);
  return /^\p{Lu}$/u.test(last);
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
    for (const { segment, index } of this.#segmenter.segment(text)) {
      if (from < 0) from = index;
      const stop = index + segment.length;
      if (stop < text.length && endsWithAbbreviation(text.slice(from, stop))) continue;
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
