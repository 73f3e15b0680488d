import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Chunk, Chunker, TokenCounter } from './chunker.ts';

// Semantics (LangChain's RecursiveCharacterTextSplitter, by tokens, with exact spans):
//  - A span is split by its level's separator; each separator stays at the end of the piece before it.
//  - A piece that fits (tokens <= chunkSize and length <= maxChunkChars) joins the level's merge window; one that does
//    not flushes the window and is split again by the next separator, down to single code points ("" is always last).
//  - The merge window is LangChain's merge_splits: add pieces while they fit, emit, then drop pieces from the front
//    until at most chunkOverlap tokens (and half of maxChars in characters) are left and the next piece fits, so the
//    next chunk starts at a piece boundary about chunkOverlap tokens back.
//  - A chunk's `tokens` is the sum of its pieces' counts: every piece is counted once, never the joined chunk. For a
//    subadditive counter (whitespace, BPE and WordPiece in practice) that is an upper bound of the chunk's own count.
//  - The char cap matters for streaming: a counter may call a 200 MB run of letters one token, and memory must stay
//    bounded, so pieces and chunks are also capped in UTF-16 units.
//
// Streaming: every decision above depends only on text up to a separator match or past maxChunkChars, never on where
// the input pieces were cut. The splitter keeps a stack of levels: a piece that is still open and already longer than
// maxChunkChars is oversized whatever follows, so its level hands it to the next level at once while it keeps scanning
// for its own separator to learn where the piece (the child's span) ends. Only the innermost level holds a merge window
// (the outer ones were flushed when they went down a level), so the buffer holds at most about 2 × maxChunkChars plus
// the incoming batch.

export const DEFAULT_SEPARATORS: readonly string[] = ['\n\n', '\n', '. ', '? ', '! ', '。', ' ', ''];

export const RecursiveChunkerConfig = z
  .object({
    chunkSize: z.number().int().min(4).default(256),
    chunkOverlap: z.number().int().min(0).default(32),
    separators: z
      .array(z.string())
      .min(1)
      .default(() => [...DEFAULT_SEPARATORS]),
    /** Hard cap on a chunk's length in UTF-16 units; default 16 × chunkSize, far above real tokenizers' chars/token. */
    maxChunkChars: z.number().int().min(16).optional(),
  })
  .refine((c) => c.chunkOverlap < c.chunkSize, { message: 'chunkOverlap must be smaller than chunkSize' });
export type RecursiveChunkerConfig = z.input<typeof RecursiveChunkerConfig>;

/** Input is gathered to at least this many UTF-16 units before it is scanned, so tiny pieces cost no rescans. */
const INPUT_BATCH = 64 * 1024;

/** Knobs for tests and benchmarks; they never change the chunks. */
export interface RecursiveChunkerTuning {
  /** UTF-16 units gathered before scanning (default 64 Ki); 1 scans every incoming piece at once. */
  inputBatch?: number;
  /** Called after every scan with the number of UTF-16 units the splitter holds, to check that memory stays bounded. */
  onBuffered?: (units: number) => void;
}
const NON_WS = /\S/u;

interface Settings {
  chunkSize: number;
  chunkOverlap: number;
  maxChars: number;
  /** The most characters a chunk repeats from the one before: half of maxChars. */
  overlapChars: number;
  separators: string[];
  counter: TokenCounter;
}

/** One level of the recursion, splitting one span (the root's span is the whole document). Positions are global. */
interface Level {
  depth: number;
  sep: string;
  spanStart: number;
  /** -1 until known: the enclosing level has not found the end of the piece this level splits. */
  spanEnd: number;
  pieceStart: number;
  /** Where the search for this level's separator resumes; every match before it has been taken. */
  scanPos: number;
  /** End of the oversized piece the next level is splitting; -1 while still scanning for it. */
  pieceEnd: number;
}

function normaliseSeparators(seps: readonly string[]): string[] {
  const cut = seps.indexOf('');
  return cut >= 0 ? seps.slice(0, cut + 1) : [...seps, ''];
}

class StreamSplitter {
  private readonly s: Settings;
  private buf = '';
  private bufStart = 0;
  private readonly levels: Level[] = [];
  // The merge window: contiguous pieces [qStart[qHead], qEnd[last]) with their token counts.
  private qStart: number[] = [];
  private qEnd: number[] = [];
  private qTok: number[] = [];
  private qHead = 0;
  private winTok = 0;
  private index = 0;
  // Per depth: the first match of the separator at or after memoFrom starts at memoAt (-1: none starts before memoUpto).
  private readonly memoFrom: number[] = [];
  private readonly memoAt: number[] = [];
  private readonly memoUpto: number[] = [];
  readonly out: Chunk[] = [];

  constructor(s: Settings) {
    this.s = s;
    this.levels.push({ depth: 0, sep: s.separators[0]!, spanStart: 0, spanEnd: -1, pieceStart: 0, scanPos: 0, pieceEnd: -1 });
  }

  get buffered(): number {
    return this.buf.length;
  }

  append(text: string): void {
    let keep = this.levels[this.levels.length - 1]!.pieceStart;
    if (this.qHead < this.qStart.length) keep = Math.min(keep, this.qStart[this.qHead]!);
    for (const l of this.levels) if (l.pieceEnd < 0) keep = Math.min(keep, l.scanPos);
    const drop = keep - this.bufStart;
    if (drop > 0) {
      this.buf = this.buf.slice(drop) + text;
      this.bufStart = keep;
    } else {
      this.buf += text;
    }
    this.run(false);
  }

  finish(): void {
    this.levels[0]!.spanEnd = this.bufStart + this.buf.length;
    this.run(true);
  }

  /** End of the next separator match within [scanPos, lim), or -1; remembers how far the search got. */
  private find(l: Level, lim: number, avail: number): number {
    const sepLen = l.sep.length;
    const d = l.depth;
    // The memo keeps a rare separator (say "? ") from being searched for across the whole buffer once per piece.
    let from = l.scanPos;
    let at = -1;
    if (d < this.memoFrom.length && from >= this.memoFrom[d]!) {
      if (this.memoAt[d]! >= from) at = this.memoAt[d]!;
      else if (this.memoAt[d]! < 0 && from < this.memoUpto[d]!) from = this.memoUpto[d]!;
    }
    if (at < 0) {
      const i = this.buf.indexOf(l.sep, from - this.bufStart);
      at = i >= 0 ? this.bufStart + i : -1;
      this.memoFrom[d] = l.scanPos;
      this.memoAt[d] = at;
      this.memoUpto[d] = avail - sepLen + 1;
    }
    if (at >= 0) {
      const end = at + sepLen;
      return end <= lim ? end : -1;
    }
    l.scanPos = Math.max(l.scanPos, avail - sepLen + 1);
    return -1;
  }

  private run(eof: boolean): void {
    const { levels } = this;
    const avail = this.bufStart + this.buf.length;
    // Outer levels first: each learns where its current piece ends, which is where the level inside it stops.
    for (let i = 0; i < levels.length - 1; i++) {
      const l = levels[i]!;
      if (l.pieceEnd >= 0) continue;
      const m = this.find(l, l.spanEnd >= 0 ? l.spanEnd : avail, avail);
      l.pieceEnd = m >= 0 ? m : l.spanEnd;
      if (l.pieceEnd >= 0) levels[i + 1]!.spanEnd = l.pieceEnd;
    }
    const { chunkSize, maxChars, counter } = this.s;
    for (;;) {
      const l = levels[levels.length - 1]!;
      const ps = l.pieceStart;
      if (l.spanEnd >= 0 && ps >= l.spanEnd) {
        this.flush();
        if (levels.length === 1) return;
        levels.pop();
        const parent = levels[levels.length - 1]!;
        parent.pieceStart = parent.scanPos = parent.pieceEnd;
        parent.pieceEnd = -1;
        continue;
      }
      const lim = l.spanEnd >= 0 ? l.spanEnd : avail;
      if (l.sep === '') {
        if (ps >= avail) return;
        let len = 1;
        const c = this.buf.charCodeAt(ps - this.bufStart);
        if (c >= 0xd800 && c <= 0xdbff) {
          if (ps + 1 < lim) {
            const d = this.buf.charCodeAt(ps + 1 - this.bufStart);
            if (d >= 0xdc00 && d <= 0xdfff) len = 2;
          } else if (l.spanEnd < 0 && !eof) {
            return; // the low surrogate has not arrived yet
          }
        }
        const pe = ps + len;
        this.add(ps, pe, counter.count(this.buf.slice(ps - this.bufStart, pe - this.bufStart)));
        l.pieceStart = l.scanPos = pe;
        continue;
      }
      let pe = this.find(l, lim, avail);
      if (pe < 0) pe = l.spanEnd;
      if (pe < 0) {
        // Open piece: once it is longer than the cap it is oversized whatever follows, so split it now.
        if (avail - ps <= maxChars) return;
        this.descend(l, -1);
        continue;
      }
      let tokens = 0;
      const oversized =
        pe - ps > maxChars ||
        // The whole span of an inner level is the oversized piece of the level above: no need to count it again.
        (levels.length > 1 && ps === l.spanStart && pe === l.spanEnd) ||
        (tokens = counter.count(this.buf.slice(ps - this.bufStart, pe - this.bufStart))) > chunkSize;
      if (oversized) {
        this.descend(l, pe);
        continue;
      }
      this.add(ps, pe, tokens);
      l.pieceStart = l.scanPos = pe;
    }
  }

  private descend(l: Level, pieceEnd: number): void {
    this.flush();
    l.pieceEnd = pieceEnd;
    const ps = l.pieceStart;
    const sep = this.s.separators[l.depth + 1]!;
    this.levels.push({ depth: l.depth + 1, sep, spanStart: ps, spanEnd: pieceEnd, pieceStart: ps, scanPos: ps, pieceEnd: -1 });
  }

  private add(start: number, end: number, tokens: number): void {
    const { chunkSize, chunkOverlap, maxChars, overlapChars } = this.s;
    const { qStart, qEnd } = this;
    if (this.qHead < qStart.length && (this.winTok + tokens > chunkSize || end - qStart[this.qHead]! > maxChars)) {
      this.emit();
      // The overlap is bounded in characters too: pieces the counter calls 0 tokens (a storm of combining marks) would
      // otherwise all stay as overlap, and each chunk would start one piece after the last: n² characters of chunks.
      // With half of maxChars, a chunk cut by the character cap moves on by at least that half. Real text never has an
      // overlap that long (chunkOverlap tokens of 8 characters and more each), so its chunks do not change.
      while (
        this.qHead < qStart.length &&
        (this.winTok > chunkOverlap ||
          this.winTok + tokens > chunkSize ||
          end - qStart[this.qHead]! > maxChars ||
          qEnd[qEnd.length - 1]! - qStart[this.qHead]! > overlapChars)
      ) {
        this.winTok -= this.qTok[this.qHead]!;
        this.qHead++;
      }
      if (this.qHead > 1024 && this.qHead * 2 > this.qStart.length) {
        this.qStart.splice(0, this.qHead);
        this.qEnd.splice(0, this.qHead);
        this.qTok.splice(0, this.qHead);
        this.qHead = 0;
      }
    }
    this.qStart.push(start);
    this.qEnd.push(end);
    this.qTok.push(tokens);
    this.winTok += tokens;
  }

  private flush(): void {
    if (this.qHead < this.qStart.length) this.emit();
    this.qStart.length = this.qEnd.length = this.qTok.length = 0;
    this.qHead = 0;
    this.winTok = 0;
  }

  private emit(): void {
    const start = this.qStart[this.qHead]!;
    const end = this.qEnd[this.qEnd.length - 1]!;
    const text = this.buf.slice(start - this.bufStart, end - this.bufStart);
    if (!NON_WS.test(text)) return;
    this.out.push({ index: this.index++, start, end, text, tokens: this.winTok });
  }
}

export function createRecursiveChunker(
  config: RecursiveChunkerConfig,
  counter: TokenCounter,
  tuning: RecursiveChunkerTuning = {},
): Chunker {
  const c = RecursiveChunkerConfig.parse(config);
  const separators = normaliseSeparators(c.separators);
  const maxChars = c.maxChunkChars ?? c.chunkSize * 16;
  const sepHash = createHash('sha256').update(JSON.stringify(separators)).digest('hex').slice(0, 12);
  const overlapChars = Math.floor(maxChars / 2);
  const settings: Settings = {
    chunkSize: c.chunkSize,
    chunkOverlap: c.chunkOverlap,
    maxChars,
    overlapChars,
    separators,
    counter,
  };
  return {
    spec: `recursive:v1:size=${c.chunkSize}:overlap=${c.chunkOverlap}:chars=${maxChars}:tok=${counter.name}:sep=${sepHash}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      const splitter = new StreamSplitter(settings);
      const batch = tuning.inputBatch ?? INPUT_BATCH;
      const feed = (piece: string) => {
        splitter.append(piece);
        tuning.onBuffered?.(splitter.buffered);
      };
      let pending: string[] = [];
      let pendingLen = 0;
      for await (const piece of text) {
        pending.push(piece);
        pendingLen += piece.length;
        if (pendingLen < batch) continue;
        feed(pending.length === 1 ? pending[0]! : pending.join(''));
        pending = [];
        pendingLen = 0;
        for (const c of splitter.out.splice(0)) yield c;
      }
      if (pendingLen > 0) feed(pending.join(''));
      splitter.finish();
      for (const c of splitter.out.splice(0)) yield c;
    },
  };
}
