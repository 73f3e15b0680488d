import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TokenCounter } from '../chunkers/chunker.ts';
import type { Embedder } from './embedder.ts';

export const HashEmbedderConfig = z.object({ dims: z.number().int().min(8).max(4096).default(384) });
export type HashEmbedderConfig = z.input<typeof HashEmbedderConfig>;

/**
 * A feature-hashing embedder: each word adds ±1 to a few hashed dimensions, then the vector is normalised. It needs no
 * model and costs microseconds, so load and memory tests can push hundreds of megabytes through the pipeline on a
 * laptop. Texts sharing words land near each other, but it is no substitute for a real model's retrieval quality.
 */
export function createHashEmbedder(config: HashEmbedderConfig = {}): Embedder & { tokenCounter: TokenCounter } {
  const { dims } = HashEmbedderConfig.parse(config);
  const words = (t: string): string[] => t.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const embed = (text: string): Float32Array => {
    const v = new Float32Array(dims);
    for (const w of words(text)) {
      const h = createHash('sha1').update(w).digest();
      for (let k = 0; k < 3; k++) v[h.readUInt32LE(k * 4) % dims]! += h[12 + k]! & 1 ? 1 : -1;
    }
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < dims; i++) v[i]! /= norm;
    return v;
  };
  const tokenCounter: TokenCounter = { name: 'hash-words', count: (t) => words(t).length };
  return {
    identity: `hash:words:${dims}:p1`,
    dims,
    metric: 'cosine',
    maxTokens: Number.MAX_SAFE_INTEGER,
    countTokens: tokenCounter.count,
    tokenCounter,
    embedDocuments: async (texts) => texts.map(embed),
    embedQuery: async (text) => embed(text),
    close: async () => undefined,
  };
}
