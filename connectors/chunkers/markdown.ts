import { z } from 'zod';
import type { Chunk, Chunker, TokenCounter } from './chunker.ts';
import { addSpan, type ChunkerTuning, batched, Packer, type PackerSettings, safeCut, TextBuffer, take } from './pack.ts';

// Markdown-aware chunking. A line scanner finds the CommonMark block structure that matters for chunking: ATX and
// setext headings, fenced code blocks (``` and ~~~, closed by a fence at least as long), YAML front matter, and
// blocks (paragraphs, lists, tables, quotes) separated by blank lines. Every heading up to maxHeadingLevel starts a
// new chunk, and each chunk carries the heading path it sits under. Blocks are packed whole up to chunkSize tokens, so
// a code fence or a table that fits a chunk is never cut; one that does not fit is cut between lines (and a line too
// long for a chunk between words). A full Markdown parser (micromark/mdast) would also see headings inside lists and
// HTML blocks, but none is a dependency yet, and chunking needs only the block outline.
//
// Streaming: decisions are made line by line with no look-ahead past the current line (a setext underline turns the
// paragraph held before it into a heading), and a block longer than maxChunkChars is handed to the packer line by line
// as soon as it is known to be oversized, so memory stays bounded by the chunk size.

export const MarkdownChunkerConfig = z
  .object({
    chunkSize: z.number().int().min(4).default(256),
    chunkOverlap: z.number().int().min(0).default(0),
    maxChunkChars: z.number().int().min(16).optional(),
    /** Headings deeper than this stay inside their parent's chunks (and out of the heading path). */
    maxHeadingLevel: z.number().int().min(1).max(6).default(6),
  })
  .refine((c) => c.chunkOverlap < c.chunkSize, { message: 'chunkOverlap must be smaller than chunkSize' });
export type MarkdownChunkerConfig = z.input<typeof MarkdownChunkerConfig>;

// The heading text is taken whole and trimmed by hand: a lazy `(.*?)` before `[ \t]*$` rescans trailing whitespace at
// every character, quadratic in the line (and a line can be maxChunkChars long).
const ATX = /^ {0,3}(#{1,6})(?:[ \t]([^\r\n\u2028\u2029]*))?$/;
const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/;
const FENCE_OPEN = /^ {0,3}(`{3,}(?=[^`]*$)|~{3,})/;
const FENCE_CLOSE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;
const FRONT_MATTER_CLOSE = /^(---|\.\.\.)[ \t]*$/;
const BLANK = /^[ \t]*$/;
const EOL = /\r?\n$|\r$/;

interface Block {
  start: number;
  end: number;
  /** Fence character and length of an open code fence; '-' for front matter. */
  fence: string;
  /** Line starts while the block may still go to the packer whole. */
  lines: number[];
  oversized: boolean;
}

/** An ATX heading's text: trimmed, without the optional closing run of '#' (which must follow a space or tab). */
function atxText(rest: string): string {
  const isSpaceTab = (i: number) => rest.charCodeAt(i) === 0x20 || rest.charCodeAt(i) === 0x09;
  let a = 0;
  let b = rest.length;
  while (a < b && isSpaceTab(a)) a++;
  while (b > a && isSpaceTab(b - 1)) b--;
  let i = b;
  while (i > a && rest.charCodeAt(i - 1) === 0x23) i--;
  let j = i;
  while (j > a && isSpaceTab(j - 1)) j--;
  return rest.slice(a, i < b && j < i && j > a ? j : b).trim();
}

export function createMarkdownChunker(config: MarkdownChunkerConfig, counter: TokenCounter, tuning: ChunkerTuning = {}): Chunker {
  const c = MarkdownChunkerConfig.parse(config);
  const s: PackerSettings = { limit: c.chunkSize, overlap: c.chunkOverlap, maxChars: c.maxChunkChars ?? c.chunkSize * 16 };
  return {
    spec: `markdown:v1:size=${s.limit}:overlap=${s.overlap}:chars=${s.maxChars}:h=${c.maxHeadingLevel}:tok=${counter.name}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      const tb = new TextBuffer();
      const packer = new Packer(tb, s);
      packer.headings = [];
      const stack: { level: number; text: string }[] = [];
      let block: Block | null = null;
      let pos = 0;
      /** The line before was cut at maxChunkChars: this one continues it and is not parsed. */
      let continued = false;

      const addLines = (b: Block, until: number) => {
        b.lines.forEach((ls, i) => addSpan(packer, tb, ls, b.lines[i + 1] ?? until, counter, s));
        b.lines = [];
      };
      const close = () => {
        if (!block) return;
        if (!block.oversized) {
          const tokens = counter.count(tb.slice(block.start, block.end));
          if (tokens <= s.limit) packer.add({ start: block.start, end: block.end, tokens });
          else addLines(block, block.end);
        }
        block = null;
      };
      const append = (ls: number, le: number, fence = '') => {
        if (!block) block = { start: ls, end: ls, fence, lines: [], oversized: false };
        block.end = le;
        if (block.oversized) {
          addSpan(packer, tb, ls, le, counter, s);
          return;
        }
        block.lines.push(ls);
        if (le - block.start > s.maxChars) {
          block.oversized = true;
          addLines(block, le);
        }
      };
      const heading = (level: number, title: string, start: number, end: number) => {
        packer.flush();
        while (stack.length > 0 && stack[stack.length - 1]!.level >= level) stack.pop();
        stack.push({ level, text: title });
        packer.headings = stack.map((h) => h.text);
        addSpan(packer, tb, start, end, counter, s);
      };

      const line = (ls: number, le: number, cut: boolean) => {
        const wasContinued = continued;
        continued = cut;
        if (wasContinued) return append(ls, le);
        const content = tb.slice(ls, le).replace(EOL, '');
        if (block?.fence) {
          append(ls, le);
          const closing =
            block.fence === '-'
              ? FRONT_MATTER_CLOSE.test(content)
              : FENCE_CLOSE.exec(content)?.[1]?.startsWith(block.fence) === true;
          if (closing) close();
          return;
        }
        if (BLANK.test(content)) return close();
        if (ls === 0 && /^---[ \t]*$/.test(content)) return append(ls, le, '-');
        const atx = ATX.exec(content);
        if (atx && atx[1]!.length <= c.maxHeadingLevel) {
          close();
          return heading(atx[1]!.length, atxText(atx[2] ?? ''), ls, le);
        }
        const setext = SETEXT.exec(content);
        const level = setext ? (setext[1]![0] === '=' ? 1 : 2) : 0;
        if (setext && block && !block.oversized && level <= c.maxHeadingLevel) {
          const b: Block = block;
          block = null;
          const title = tb.slice(b.start, b.end).replace(/\s+/g, ' ').trim();
          return heading(level, title, b.start, le);
        }
        const fence = FENCE_OPEN.exec(content);
        if (fence) {
          close();
          return append(ls, le, fence[1]!);
        }
        append(ls, le);
      };

      const run = (eof: boolean) => {
        while (pos < tb.end) {
          const nl = tb.buf.indexOf('\n', pos - tb.start);
          let le = nl >= 0 ? tb.start + nl + 1 : -1;
          let cut = false;
          if (le < 0 || le - pos > s.maxChars) {
            if (tb.end - pos > s.maxChars) {
              le = safeCut(tb, pos + s.maxChars);
              cut = true;
            } else if (eof) le = tb.end;
            else return;
          }
          line(pos, le, cut);
          pos = le;
        }
      };
      const keep = () => {
        const b = block as Block | null;
        return Math.min(packer.keepFrom(pos), b && !b.oversized ? b.start : pos);
      };

      for await (const piece of batched(text, tuning.inputBatch)) {
        tb.append(piece, keep());
        run(false);
        tuning.onBuffered?.(tb.buf.length);
        for (const chunk of take(packer.out)) yield chunk;
      }
      run(true);
      close();
      packer.flush();
      for (const chunk of take(packer.out)) yield chunk;
    },
  };
}
