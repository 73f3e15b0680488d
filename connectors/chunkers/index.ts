import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { Chunker, TokenCounter } from './chunker.ts';
import type { ChunkerTuning } from './pack.ts';
import { createFixedChunker, FixedChunkerConfig } from './fixed.ts';
import { createMarkdownChunker, MarkdownChunkerConfig } from './markdown.ts';
import { createRecursiveChunker, RecursiveChunkerConfig } from './recursive.ts';
import { createSemanticChunker, type EmbedTexts, SemanticChunkerConfig } from './semantic.ts';
import { createSentenceChunker, SentenceChunkerConfig } from './sentence.ts';
import type { PromptScorer } from './meta/logprobs.ts';
import { createMarginChunker, MarginChunkerConfig } from './meta/margin.ts';
import { createPerplexityChunker, PerplexityChunkerConfig } from './meta/perplexity.ts';
import { PromptScorerConfig } from './meta/scorer.ts';
import { createJinaSegmenterChunker, JinaSegmenterConfig } from './remote/jina-segmenter.ts';

/** Which chunker and its parameters; every size is in tokens of the TokenCounter given to createChunker. */
export const ChunkerConfig = z.discriminatedUnion('kind', [
  RecursiveChunkerConfig.extend({ kind: z.literal('recursive') }),
  FixedChunkerConfig.extend({ kind: z.literal('fixed') }),
  SentenceChunkerConfig.extend({ kind: z.literal('sentence') }),
  MarkdownChunkerConfig.extend({ kind: z.literal('markdown') }),
  SemanticChunkerConfig.extend({ kind: z.literal('semantic') }),
  // Meta-Chunking: `lm` names the language model that scores prompts (default: SmolLM2-135M on the CPU).
  PerplexityChunkerConfig.extend({ kind: z.literal('meta-perplexity'), lm: PromptScorerConfig.prefault({ kind: 'local' }) }),
  MarginChunkerConfig.extend({ kind: z.literal('meta-margin'), lm: PromptScorerConfig.prefault({ kind: 'local' }) }),
  JinaSegmenterConfig.extend({ kind: z.literal('jina-segmenter') }),
]);
export type ChunkerConfig = z.input<typeof ChunkerConfig>;

export interface ChunkerDeps {
  /** Sentence embeddings, for semantic chunking (an Embedder's embedDocuments fits). */
  embed?: EmbedTexts;
  /** The embedder's identity (Embedder.identity): it enters the semantic chunker's spec. */
  embedderId?: string;
  /** The language model of a Meta-Chunking chunker, built from its `lm` setting (createPromptScorer). */
  scorer?: PromptScorer;
}

/** Builds the configured chunker; `tuning` is for tests and benchmarks and never changes the chunks. */
export function createChunker(
  config: ChunkerConfig,
  counter: TokenCounter,
  deps: ChunkerDeps = {},
  tuning: ChunkerTuning = {},
): Chunker {
  const c = ChunkerConfig.parse(config);
  switch (c.kind) {
    case 'recursive':
      return createRecursiveChunker(c, counter, tuning);
    case 'fixed':
      return createFixedChunker(c, counter, tuning);
    case 'sentence':
      return createSentenceChunker(c, counter, tuning);
    case 'markdown':
      return createMarkdownChunker(c, counter, tuning);
    case 'semantic': {
      const { embed, embedderId } = deps;
      if (!embed || !embedderId) {
        throw new ConnectorError(FailureType.InvalidInput, 'semantic chunking needs an embed function and the embedder identity');
      }
      return createSemanticChunker(c, counter, { embed, embedderId }, tuning);
    }
    case 'meta-perplexity':
    case 'meta-margin': {
      if (!deps.scorer)
        throw new ConnectorError(FailureType.InvalidInput, `${c.kind} chunking needs its language model (deps.scorer)`);
      return c.kind === 'meta-perplexity'
        ? createPerplexityChunker(c, deps.scorer, counter)
        : createMarginChunker(c, deps.scorer, counter);
    }
    case 'jina-segmenter':
      return createJinaSegmenterChunker(c, counter);
  }
}
