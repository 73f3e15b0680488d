import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { Chunk, Chunker, TokenCounter } from './chunker.ts';
import { batched, type ChunkerTuning, Packer, type PackerSettings, splitSpan, TextBuffer, type Unit, take } from './pack.ts';
import { SentenceScanner } from './sentence.ts';

// Semantic chunking (Kamradt's "semantic splitting", as in LangChain's SemanticChunker): sentences are embedded, and
// a chunk ends where the cosine distance between adjacent sentences is unusually high, i.e. above the
// breakpointPercentile of the distances around it. A chunk also ends when the next sentence would overflow chunkSize
// tokens, and a sentence longer than a chunk is cut between words first (each piece then counts as a sentence).
// LangChain takes the percentile over the whole document; here it is taken over fixed windows of `window` sentences
// (sentence k*window up to (k+1)*window), each embedded in one call, so memory stays bounded and the output does not
// depend on how the input arrives.

export type EmbedTexts = (texts: string[]) => Promise<Float32Array[]>;

export const SemanticChunkerConfig = z.object({
  chunkSize: z.number().int().min(4).default(256),
  maxChunkChars: z.number().int().min(16).optional(),
  /** Distances above this percentile of their window become chunk boundaries. */
  breakpointPercentile: z.number().min(0).max(100).default(90),
  /** Sentences embedded per call and over which the percentile is taken. */
  window: z.number().int().min(2).max(4096).default(64),
  locale: z.string().default('en'),
});
export type SemanticChunkerConfig = z.input<typeof SemanticChunkerConfig>;

export interface SemanticChunkerDeps {
  embed: EmbedTexts;
  /** Names the embedding model in the spec: another model finds other boundaries. */
  embedderId: string;
}

function cosineDistance(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  // A text with nothing to embed (no words for the hash embedder) says nothing about a topic change.
  return na === 0 || nb === 0 ? 0 : 1 - dot / Math.sqrt(na * nb);
}

/** Linear interpolation between closest ranks, as numpy.percentile does by default. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  const idx = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.ceil(idx);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (idx - lo);
}

export function createSemanticChunker(
  config: SemanticChunkerConfig,
  counter: TokenCounter,
  deps: SemanticChunkerDeps,
  tuning: ChunkerTuning = {},
): Chunker {
  const c = SemanticChunkerConfig.parse(config);
  const s: PackerSettings = { limit: c.chunkSize, overlap: 0, maxChars: c.maxChunkChars ?? c.chunkSize * 16 };
  return {
    spec: `semantic:v1:size=${s.limit}:chars=${s.maxChars}:p=${c.breakpointPercentile}:w=${c.window}:locale=${c.locale}:tok=${counter.name}:emb=${deps.embedderId}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      const tb = new TextBuffer();
      const packer = new Packer(tb, s);
      const scanner = new SentenceScanner(tb, c.locale);
      let pending: Unit[] = [];
      let previous: Float32Array | undefined;

      const collect = (eof: boolean) => {
        for (const [a, b] of scanner.scan(eof)) {
          const tokens = b - a <= s.maxChars ? counter.count(tb.slice(a, b)) : s.limit + 1;
          if (tokens <= s.limit) pending.push({ start: a, end: b, tokens });
          else for (const u of splitSpan(tb, a, b, counter, s.limit, s.maxChars)) pending.push(u);
        }
      };
      const place = async (units: Unit[]) => {
        const vectors = await deps.embed(units.map((u) => tb.slice(u.start, u.end)));
        if (vectors.length !== units.length) {
          throw new ConnectorError(
            FailureType.Unavailable,
            `embedder returned ${vectors.length} vectors for ${units.length} texts`,
          );
        }
        const dist = vectors.map((v, i) =>
          i > 0 ? cosineDistance(vectors[i - 1]!, v) : previous ? cosineDistance(previous, v) : -1,
        );
        const known = dist.filter((d) => d >= 0);
        const threshold = known.length > 0 ? percentile(known, c.breakpointPercentile) : Infinity;
        units.forEach((u, i) => {
          if (dist[i]! > threshold) packer.flush();
          packer.add(u);
        });
        previous = vectors[vectors.length - 1];
      };

      for await (const piece of batched(text, tuning.inputBatch)) {
        tb.append(piece, Math.min(packer.keepFrom(scanner.pos), pending[0]?.start ?? scanner.pos));
        collect(false);
        tuning.onBuffered?.(tb.buf.length);
        while (pending.length >= c.window) {
          await place(pending.slice(0, c.window));
          pending = pending.slice(c.window);
        }
        for (const chunk of take(packer.out)) yield chunk;
      }
      collect(true);
      while (pending.length > 0) {
        await place(pending.slice(0, c.window));
        pending = pending.slice(c.window);
      }
      packer.flush();
      for (const chunk of take(packer.out)) yield chunk;
    },
  };
}
