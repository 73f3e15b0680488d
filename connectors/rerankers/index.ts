import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { PromptScorerConfig } from '../chunkers/meta/scorer.ts';
import type { SecretSource } from '../shared/secret.ts';
import { CohereRerankConfig, createCohereReranker } from './cohere.ts';
import { createJinaReranker, JinaRerankConfig } from './jina.ts';
import { createLocalLlmReranker } from './local-llm.ts';
import { createLocalOnnxReranker, LocalOnnxRerankConfig } from './local-onnx.ts';
import type { Reranker } from './reranker.ts';
import { createTeiReranker, TeiRerankConfig } from './tei.ts';

// The reranker a pipeline's `search:` section names, by provider. Rerankers read queries, never write vectors: they
// are not part of the pipeline fingerprint, and changing one re-processes nothing.

export const RerankerSpec = z.discriminatedUnion('provider', [
  JinaRerankConfig.extend({ provider: z.literal('jina') }),
  CohereRerankConfig.extend({ provider: z.literal('cohere') }),
  /** Any TEI-compatible `/rerank` server: TEI itself, Infinity, our embedding server. */
  TeiRerankConfig.extend({ provider: z.literal('tei') }),
  /** A cross-encoder folder (reranker.json) run on the CPU with onnxruntime. */
  LocalOnnxRerankConfig.extend({ provider: z.literal('local-onnx') }),
  /** A causal LM as a yes/no judge (Qwen3-Reranker's prompt and scoring): the local GGUF, or a vLLM server. */
  z.object({
    provider: z.literal('llm-yes-no'),
    scorer: PromptScorerConfig,
    instruction: z.string().min(1).optional(),
    maxDocumentChars: z.number().int().positive().optional(),
  }),
]);
export type RerankerSpec = z.input<typeof RerankerSpec>;

export async function createReranker(spec: RerankerSpec, secrets: SecretSource = { env: {} }): Promise<Reranker> {
  const s = RerankerSpec.parse(spec);
  switch (s.provider) {
    case 'jina':
      return createJinaReranker(s, secrets);
    case 'cohere':
      return createCohereReranker(s, secrets);
    case 'tei':
      return createTeiReranker(s, secrets);
    case 'local-onnx':
      // A relative folder is relative to the spec's directory, like every other path in a spec.
      return createLocalOnnxReranker({
        ...s,
        modelDir: isAbsolute(s.modelDir) ? s.modelDir : resolve(secrets.baseDir ?? process.cwd(), s.modelDir),
      });
    case 'llm-yes-no': {
      const { createPromptScorer } = await import('../chunkers/meta/scorer.ts');
      return createLocalLlmReranker(await createPromptScorer(s.scorer), {
        ...(s.instruction ? { instruction: s.instruction } : {}),
        ...(s.maxDocumentChars ? { maxDocumentChars: s.maxDocumentChars } : {}),
      });
    }
  }
}
