import type { Chunk, TokenCounter } from './chunker.ts';

// Building blocks shared by the streaming chunkers (fixed, sentence, Markdown, semantic). Positions are global UTF-16
// indices into the whole document; the buffer holds only the text from the oldest position still needed.

/** A span the chunker will not cut inside, with its token count. */
export interface Unit {
  start: number;
  end: number;
  tokens: number;
}

/** The document text from `start` on; older text is dropped once nothing refers to it. */
export class TextBuffer {
  buf = '';
  start = 0;

  get end(): number {
    return this.start + this.buf.length;
  }

  /** Appends text, first dropping everything before `keep`. */
  append(text: string, keep: number): void {
    const drop = Math.min(keep, this.end) - this.start;
    if (drop > 0) {
      this.buf = this.buf.slice(drop) + text;
      this.start += drop;
    } else {
      this.buf += text;
    }
  }

  slice(start: number, end: number): string {
    return this.buf.slice(start - this.start, end - this.start);
  }

  charCodeAt(pos: number): number {
    return this.buf.charCodeAt(pos - this.start);
  }
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** `pos` moved back by one if it would split a surrogate pair. */
export function safeCut(tb: TextBuffer, pos: number): number {
  return pos > tb.start && isHigh(tb.charCodeAt(pos - 1)) ? pos - 1 : pos;
}

/** Knobs for tests and benchmarks; they never change the chunks. */
export interface ChunkerTuning {
  /** UTF-16 units gathered before scanning (default 64 Ki); 1 scans every incoming piece at once. */
  inputBatch?: number;
  /** Called after every scan with the number of UTF-16 units the chunker holds, to check that memory stays bounded. */
  onBuffered?: (units: number) => void;
}

/** Gathers input to at least `batch` UTF-16 units per call of `feed`, so tiny pieces cost no rescans. */
export async function* batched(text: AsyncIterable<string>, batch = 64 * 1024): AsyncGenerator<string> {
  let pending: string[] = [];
  let len = 0;
  for await (const piece of text) {
    pending.push(piece);
    len += piece.length;
    if (len < batch) continue;
    yield pending.length === 1 ? pending[0]! : pending.join('');
    pending = [];
    len = 0;
  }
  if (len > 0) yield pending.join('');
}

const WORD = /\s*\S+\s*|\s+/y;

/**
 * Splits [start, end) into units of at most `limit` tokens and `maxChars` units: words (with the whitespace around
 * them), and runs of code points for a word that is too long alone. Word boundaries are pre-tokenizer boundaries for BERT- and
 * BPE-style tokenizers, so the units' counts add up to the span's own count.
 */
export function splitSpan(
  tb: TextBuffer,
  start: number,
  end: number,
  counter: TokenCounter,
  limit: number,
  maxChars: number,
): Unit[] {
  const text = tb.slice(start, end);
  const out: Unit[] = [];
  for (let i = 0; i < text.length;) {
    WORD.lastIndex = i;
    const m = WORD.exec(text)!;
    const j = i + m[0].length;
    const tokens = j - i <= maxChars ? counter.count(m[0]) : limit + 1;
    if (tokens <= limit) {
      out.push({ start: start + i, end: start + j, tokens });
    } else {
      // Code points, each counted, then merged while the sums fit: an upper bound of the piece's own count.
      let from = i;
      let sum = 0;
      for (const cp of m[0]) {
        const n = counter.count(cp);
        if (i > from && (sum + n > limit || i + cp.length - from > maxChars)) {
          out.push({ start: start + from, end: start + i, tokens: sum });
          from = i;
          sum = 0;
        }
        sum += n;
        i += cp.length;
      }
      out.push({ start: start + from, end: start + i, tokens: sum });
    }
    i = j;
  }
  return out;
}

/** Adds [start, end) as one unit if it fits, else as the pieces splitSpan cuts it into; `tokens` if already counted. */
export function addSpan(
  packer: Packer,
  tb: TextBuffer,
  start: number,
  end: number,
  counter: TokenCounter,
  s: PackerSettings,
  tokens?: number,
): void {
  if (end - start <= s.maxChars) {
    const n = tokens ?? counter.count(tb.slice(start, end));
    if (n <= s.limit) {
      packer.add({ start, end, tokens: n });
      return;
    }
  }
  for (const u of splitSpan(tb, start, end, counter, s.limit, s.maxChars)) packer.add(u);
}

const NON_WS = /\S/u;
const WS_CHAR = /\s/u;

export interface PackerSettings {
  limit: number;
  overlap: number;
  maxChars: number;
}

/**
 * Packs units into chunks (LangChain's merge_splits): add units while the sum of their tokens fits `limit` and the
 * span fits `maxChars`, emit, then drop units from the front until at most `overlap` tokens are left and the next unit
 * fits. Emitted spans are trimmed of surrounding whitespace; whitespace-only windows emit nothing.
 */
export class Packer {
  readonly #tb: TextBuffer;
  readonly #s: PackerSettings;
  readonly out: Chunk[] = [];
  #units: Unit[] = [];
  #head = 0;
  #tokens = 0;
  #index = 0;
  #lastEnd = 0;
  /** Heading path stamped on the chunks emitted from now on. */
  headings: string[] | undefined;

  constructor(tb: TextBuffer, settings: PackerSettings) {
    this.#tb = tb;
    this.#s = settings;
  }

  /** The oldest position the packer still needs, or `fallback` when it holds nothing. */
  keepFrom(fallback: number): number {
    return this.#head < this.#units.length ? this.#units[this.#head]!.start : fallback;
  }

  get empty(): boolean {
    return this.#head >= this.#units.length;
  }

  add(u: Unit): void {
    const { limit, overlap, maxChars } = this.#s;
    const units = this.#units;
    const fits = () => this.#tokens + u.tokens <= limit && u.end - units[this.#head]!.start <= maxChars;
    if (this.#head < units.length && !fits()) {
      this.#emit();
      while (this.#head < units.length && (this.#tokens > overlap || !fits())) {
        this.#tokens -= units[this.#head]!.tokens;
        this.#head++;
      }
      if (this.#head > 1024 && this.#head * 2 > units.length) {
        units.splice(0, this.#head);
        this.#head = 0;
      }
    }
    units.push(u);
    this.#tokens += u.tokens;
  }

  /** Emits what is held; the next unit starts a new chunk with no overlap. */
  flush(): void {
    if (this.#head < this.#units.length) this.#emit();
    this.#units = [];
    this.#head = 0;
    this.#tokens = 0;
  }

  #emit(): void {
    let start = this.#units[this.#head]!.start;
    let end = this.#units[this.#units.length - 1]!.end;
    const raw = this.#tb.slice(start, end);
    const lead = raw.search(NON_WS);
    if (lead < 0) return;
    let trail = 0;
    while (WS_CHAR.test(raw[raw.length - 1 - trail]!)) trail++;
    start += lead;
    end -= trail;
    // A window that adds only whitespace to the previous chunk's overlap says nothing new.
    if (end <= this.#lastEnd) return;
    this.#lastEnd = end;
    const text = raw.slice(lead, raw.length - trail);
    const chunk: Chunk = { index: this.#index++, start, end, text, tokens: this.#tokens };
    if (this.headings) chunk.headings = [...this.headings];
    this.out.push(chunk);
  }
}

/** Empties `out` and returns what it held. Callers loop over it with a plain `for ... yield`: `yield*` of a
 * sync generator inside an async one costs about twice as much per chunk. */
export function take(out: Chunk[]): Chunk[] {
  return out.splice(0);
}
