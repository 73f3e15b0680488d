import type { Chunk, TokenCounter } from '../chunker.ts';
import type { Sentence } from './sentences.ts';

// Meta-Chunking's last step: the chunks the LM found are merged, in order, while the merged text stays within the
// target length. Two limits apply here, both in the embedding model's tokens: `targetTokens` (merge while the result
// fits) and `maxTokens` (a hard cap: a longer LM chunk is cut at sentence boundaries, every sentence already fits).

export class Packer {
  private cur: Sentence[] = [];
  private curTokens = 0;
  private index = 0;
  private readonly counter: TokenCounter;
  private readonly targetTokens: number;
  private readonly maxTokens: number;

  constructor(counter: TokenCounter, targetTokens: number, maxTokens: number) {
    this.counter = counter;
    this.targetTokens = targetTokens;
    this.maxTokens = maxTokens;
  }

  /** Adds one chunk found by the LM (consecutive sentences); returns the chunks that became final. */
  add(piece: readonly Sentence[]): Chunk[] {
    const out: Chunk[] = [];
    for (const part of this.capped(piece)) {
      if (this.cur.length === 0) {
        this.cur = part.sentences;
        this.curTokens = part.tokens;
        continue;
      }
      const merged = this.count([...this.cur, ...part.sentences]);
      if (merged <= this.targetTokens) {
        this.cur.push(...part.sentences);
        this.curTokens = merged;
      } else {
        out.push(this.emit());
        this.cur = part.sentences;
        this.curTokens = part.tokens;
      }
    }
    return out;
  }

  finish(): Chunk[] {
    return this.cur.length > 0 ? [this.emit()] : [];
  }

  private count(ss: readonly Sentence[]): number {
    return this.counter.count(ss.map((s) => s.text).join(''));
  }

  /** Cuts a piece over maxTokens into greedy runs of sentences that fit. */
  private capped(piece: readonly Sentence[]): { sentences: Sentence[]; tokens: number }[] {
    const whole = this.count(piece);
    if (whole <= this.maxTokens) return [{ sentences: [...piece], tokens: whole }];
    const out: { sentences: Sentence[]; tokens: number }[] = [];
    let run: Sentence[] = [];
    let runTokens = 0;
    for (const s of piece) {
      const next = this.count([...run, s]);
      if (run.length > 0 && next > this.maxTokens) {
        out.push({ sentences: run, tokens: runTokens });
        run = [s];
        runTokens = this.count(run);
      } else {
        run.push(s);
        runTokens = next;
      }
    }
    if (run.length > 0) out.push({ sentences: run, tokens: runTokens });
    return out;
  }

  private emit(): Chunk {
    const first = this.cur[0]!;
    const last = this.cur[this.cur.length - 1]!;
    const chunk: Chunk = {
      index: this.index++,
      start: first.start,
      end: last.end,
      text: this.cur.map((s) => s.text).join(''),
      tokens: this.curTokens,
    };
    this.cur = [];
    this.curTokens = 0;
    return chunk;
  }
}
