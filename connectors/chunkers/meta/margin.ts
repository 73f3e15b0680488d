import { z } from 'zod';
import type { Chunk, Chunker, TokenCounter } from '../chunker.ts';
import type { ChatPrompt, PromptScorer } from './logprobs.ts';
import { Packer } from './pack.ts';
import { capSentence, type Sentence, sentences } from './sentences.ts';

// Meta-Chunking's margin sampling (MSP) chunking (Zhao et al., 2024). For each sentence B after the first, a small
// instruction-tuned LM is asked whether the passage A so far and B should be split ("1") or kept together ("2"), and
// margin = P("2") - P("1") is read from its first answer token. B joins A when the margin is above a running
// threshold, otherwise a new chunk starts at B. As in the paper's code the threshold starts at 0 and, once five
// margins exist, becomes the mean of the last five, so it follows the model's bias on this document. The pieces
// are then merged to `targetTokens` and capped at `maxTokens` like the perplexity chunker's.
// A is the tail of the current piece, at most `contextTokens`, so every prompt stays short and the cost per sentence
// does not grow with the chunk. Streaming: one decision per sentence, in order.

export const MarginChunkerConfig = z
  .object({
    targetTokens: z.number().int().min(1).default(256),
    maxTokens: z.number().int().min(8).default(512),
    contextTokens: z.number().int().min(8).default(192),
    /** How many recent margins the running threshold averages (the paper uses 5). */
    thresholdWindow: z.number().int().min(1).default(5),
    language: z.enum(['en', 'zh']).default('en'),
  })
  .refine((c) => c.targetTokens <= c.maxTokens, { message: 'targetTokens must not exceed maxTokens' });
export type MarginChunkerConfig = z.input<typeof MarginChunkerConfig>;

/** The paper's prompt, option 1 = split, option 2 = keep. */
export function marginPrompt(a: string, b: string, language: 'en' | 'zh'): ChatPrompt {
  const A = a.trim();
  const B = b.trim();
  if (language === 'zh') {
    const ab = A + B;
    return {
      user:
        `这是一个文本分块任务。你是一位文本分析专家，请根据所给句子的逻辑结构和语义内容，从下面两种方案中选择一种分块方式：\n` +
        `1. 将“${ab}”分割成“${A}”与“${B}”两部分；\n2. 将“${ab}”不进行分割，保持原形式；\n请回答1或2。`,
    };
  }
  const ab = `${A} ${B}`;
  return {
    user:
      `This is a text chunking task. As a text analysis expert, choose one of the following two options based on the ` +
      `logical structure and semantic content of the text:\n1. Split "${ab}" into two parts, "${A}" and "${B}";\n` +
      `2. Keep "${ab}" unsplit in its original form.\nPlease answer 1 or 2.`,
  };
}

export function createMarginChunker(config: MarginChunkerConfig, scorer: PromptScorer, counter: TokenCounter): Chunker {
  const c = MarginChunkerConfig.parse(config);
  const maxChars = c.maxTokens * 16;
  return {
    spec:
      `meta-msp:v1:lm=${scorer.name}:lang=${c.language}:win=${c.thresholdWindow}:target=${c.targetTokens}` +
      `:max=${c.maxTokens}:ctx=${c.contextTokens}:tok=${counter.name}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      const packer = new Packer(counter, c.targetTokens, c.maxTokens);
      let piece: (Sentence & { tokens: number })[] = [];
      let pieceTokens = 0;
      const margins: number[] = [];
      let threshold = 0;
      for await (const sentence of sentences(text, maxChars)) {
        for (const s of capSentence(sentence, counter, Math.min(c.maxTokens, c.contextTokens))) {
          const tokens = counter.count(s.text);
          let keep = piece.length > 0;
          if (keep) {
            const tail: Sentence[] = [];
            let n = 0;
            for (let i = piece.length - 1; i >= 0 && (tail.length === 0 || n + piece[i]!.tokens <= c.contextTokens); i--) {
              n += piece[i]!.tokens;
              tail.unshift(piece[i]!);
            }
            const a = tail.map((t) => t.text).join('');
            const [p1, p2] = await scorer.nextTokenProbs(marginPrompt(a, s.text, c.language), ['1', '2']);
            const margin = p2! - p1!;
            keep = margin > threshold;
            margins.push(margin);
            if (margins.length >= c.thresholdWindow) {
              const last = margins.slice(-c.thresholdWindow);
              threshold = last.reduce((x, y) => x + y, 0) / last.length;
              margins.splice(0, margins.length - c.thresholdWindow);
            }
          }
          if (!keep || pieceTokens + tokens > c.maxTokens) {
            if (piece.length > 0) yield* packer.add(piece);
            piece = [];
            pieceTokens = 0;
          }
          piece.push({ ...s, tokens });
          pieceTokens += tokens;
        }
      }
      if (piece.length > 0) yield* packer.add(piece);
      yield* packer.finish();
    },
  };
}
