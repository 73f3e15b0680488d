import { z } from 'zod';
import type { Chunk, Chunker, TokenCounter } from './chunker.ts';
import { addSpan, type ChunkerTuning, batched, Packer, type PackerSettings, safeCut, TextBuffer, take } from './pack.ts';

// Fixed-size chunks in tokens of the model's tokenizer: words (a run of non-whitespace with the whitespace after it)
// are packed while their token counts add up to at most chunkSize, and each chunk starts about chunkOverlap tokens
// before the previous one ended. Words are pre-tokenizer boundaries for WordPiece and BPE, so the sum of the words'
// counts is the chunk's own count; a word longer than a chunk is cut between code points. Cutting only between words
// keeps every chunk's text decodable and its span exact, at the price of chunks a few tokens short of chunkSize.

export const FixedChunkerConfig = z
  .object({
    chunkSize: z.number().int().min(4).default(256),
    chunkOverlap: z.number().int().min(0).default(32),
    /** Hard cap on a chunk's length in UTF-16 units (default 16 × chunkSize), so memory stays bounded. */
    maxChunkChars: z.number().int().min(16).optional(),
  })
  .refine((c) => c.chunkOverlap < c.chunkSize, { message: 'chunkOverlap must be smaller than chunkSize' });
export type FixedChunkerConfig = z.input<typeof FixedChunkerConfig>;

const WORD = /\s*\S+\s*|\s+/y;

export function createFixedChunker(config: FixedChunkerConfig, counter: TokenCounter, tuning: ChunkerTuning = {}): Chunker {
  const c = FixedChunkerConfig.parse(config);
  const s: PackerSettings = { limit: c.chunkSize, overlap: c.chunkOverlap, maxChars: c.maxChunkChars ?? c.chunkSize * 16 };
  return {
    spec: `fixed:v1:size=${s.limit}:overlap=${s.overlap}:chars=${s.maxChars}:tok=${counter.name}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      const tb = new TextBuffer();
      const packer = new Packer(tb, s);
      let pos = 0;
      const run = (eof: boolean) => {
        while (pos < tb.end) {
          WORD.lastIndex = pos - tb.start;
          let end = pos + WORD.exec(tb.buf)![0].length;
          // A word longer than the cap is cut at the cap whatever follows, so the cut never depends on the pieces.
          if (end - pos > s.maxChars) end = safeCut(tb, pos + s.maxChars);
          else if (end === tb.end && !eof) return; // the word (or its trailing whitespace) may go on
          addSpan(packer, tb, pos, end, counter, s);
          pos = end;
        }
      };
      for await (const piece of batched(text, tuning.inputBatch)) {
        tb.append(piece, packer.keepFrom(pos));
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
