import { z } from 'zod';
import type { Chunk, Chunker, TokenCounter } from '../chunker.ts';
import { meanNllPerSpan, type PromptScorer } from './logprobs.ts';
import { Packer } from './pack.ts';
import { capSentence, type Sentence, sentences } from './sentences.ts';

// Meta-Chunking's perplexity (PPL) chunking (Zhao et al., 2024):
//  1. split into sentences;
//  2. score each sentence by the mean negative log-likelihood of its tokens given all text before it (one causal pass
//     per window; the first token of a text has no context and is left out);
//  3. cut after every sentence whose score is a local minimum (lower than the one before, and lower than or equal to
//     the one after) with a drop of at least `threshold` from a neighbour: a sentence the context predicts well ends
//     a thought, and the rise after it starts a new one (the paper's find_minima, including its tie rule);
//  4. merge the pieces in order while the merged text stays within `targetTokens`, capped at `maxTokens`.
// Long documents: sentences are scored in windows of at most `windowTokens`, each window led by up to
// `contextTokens` of the sentences before it as context, so every sentence is scored once with at least that much
// preceding text, and the document never has to fit the LM's context. Token budgets use the chunker's TokenCounter
// (the embedding model's tokenizer); keep the LM's context comfortably above windowTokens of its own tokens.
// Streaming: sentences, windows and cuts depend only on the text, not on how it arrived; memory holds one window,
// the context and the pieces not yet final.

export const PerplexityChunkerConfig = z
  .object({
    threshold: z.number().min(0).default(0),
    targetTokens: z.number().int().min(1).default(256),
    maxTokens: z.number().int().min(8).default(512),
    windowTokens: z.number().int().min(16).default(1024),
    contextTokens: z.number().int().min(0).default(256),
  })
  .refine((c) => c.targetTokens <= c.maxTokens, { message: 'targetTokens must not exceed maxTokens' })
  .refine((c) => c.contextTokens < c.windowTokens, { message: 'contextTokens must be smaller than windowTokens' });
export type PerplexityChunkerConfig = z.input<typeof PerplexityChunkerConfig>;

interface Scored extends Sentence {
  tokens: number;
  nll: number;
}

/** find_minima of the paper for the middle of three scores (NaN never cuts). */
export function isCut(prev: number, cur: number, next: number, threshold: number): boolean {
  if (!(cur < prev)) return false;
  if (cur < next) return prev - cur >= threshold || next - cur >= threshold;
  return cur === next && prev - cur >= threshold;
}

export function createPerplexityChunker(config: PerplexityChunkerConfig, scorer: PromptScorer, counter: TokenCounter): Chunker {
  const c = PerplexityChunkerConfig.parse(config);
  const maxChars = c.maxTokens * 16;
  const newBudget = c.windowTokens - c.contextTokens;
  return {
    spec:
      `meta-ppl:v1:lm=${scorer.name}:th=${c.threshold}:target=${c.targetTokens}:max=${c.maxTokens}` +
      `:win=${c.windowTokens}:ctx=${c.contextTokens}:tok=${counter.name}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      const packer = new Packer(counter, c.targetTokens, c.maxTokens);
      let pending: (Sentence & { tokens: number })[] = [];
      let pendingTokens = 0;
      let context: Scored[] = [];
      // The decision stream: the last two scored sentences and the piece being built.
      let piece: Scored[] = [];
      let pieceTokens = 0;
      let prev: Scored | undefined;
      let cur: Scored | undefined;

      const decide = (next: Scored | undefined): Chunk[] => {
        const out: Chunk[] = [];
        if (cur) {
          piece.push(cur);
          pieceTokens += cur.tokens;
          const cut = prev !== undefined && next !== undefined && isCut(prev.nll, cur.nll, next.nll, c.threshold);
          // A piece without any cut is handed over once it is over the cap, which keeps memory bounded.
          if (cut || next === undefined || pieceTokens > c.maxTokens) {
            out.push(...packer.add(piece));
            piece = [];
            pieceTokens = 0;
          }
        }
        prev = cur;
        cur = next;
        return out;
      };

      const scoreWindow = async (batch: (Sentence & { tokens: number })[]): Promise<Chunk[]> => {
        const from = context.length > 0 ? context[0]!.start : batch[0]!.start;
        const windowText = [...context, ...batch].map((s) => s.text).join('');
        const scored = await scorer.scoreText(windowText);
        const nll = meanNllPerSpan(windowText, scored, batch, from);
        const out: Chunk[] = [];
        const done = batch.map((s, i) => ({ ...s, nll: nll[i]! }));
        for (const s of done) out.push(...decide(s));
        context = [...context, ...done];
        let ctxTokens = context.reduce((n, s) => n + s.tokens, 0);
        while (context.length > 0 && ctxTokens > c.contextTokens) ctxTokens -= context.shift()!.tokens;
        return out;
      };

      const takeBatch = (): (Sentence & { tokens: number })[] => {
        const batch: (Sentence & { tokens: number })[] = [];
        let n = 0;
        while (pending.length > 0 && (batch.length === 0 || n + pending[0]!.tokens <= newBudget)) {
          const s = pending.shift()!;
          n += s.tokens;
          batch.push(s);
        }
        pendingTokens -= n;
        return batch;
      };

      for await (const sentence of sentences(text, maxChars)) {
        for (const s of capSentence(sentence, counter, Math.min(c.maxTokens, newBudget))) {
          const tokens = counter.count(s.text);
          pending.push({ ...s, tokens });
          pendingTokens += tokens;
        }
        while (pendingTokens > newBudget) yield* await scoreWindow(takeBatch());
      }
      while (pending.length > 0) yield* await scoreWindow(takeBatch());
      yield* decide(undefined);
      yield* packer.finish();
      pending = [];
    },
  };
}
