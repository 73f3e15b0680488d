import { z } from 'zod';
import type { PromptScorer } from './logprobs.ts';
import { LlamaLocalScorerConfig } from './llama-local.ts';
import { installedLocalLlm } from './local-llm-files.ts';
import { OpenAICompletionsScorerConfig } from './openai-completions.ts';

/** Which language model scores prompts for Meta-Chunking: SmolLM2 on the CPU (offline default) or a vLLM-style server. */
export const PromptScorerConfig = z.discriminatedUnion('kind', [
  LlamaLocalScorerConfig.extend({ kind: z.literal('local') }),
  OpenAICompletionsScorerConfig.extend({ kind: z.literal('openai-completions') }),
]);
export type PromptScorerConfig = z.input<typeof PromptScorerConfig>;

/** Loads the scorer. The local model and its runtime must be installed already (`npm run fetch:llm`): nothing is fetched here. */
export async function createPromptScorer(config: PromptScorerConfig): Promise<PromptScorer> {
  const c = PromptScorerConfig.parse(config);
  if (c.kind === 'openai-completions') {
    const { kind: _kind, ...rest } = c;
    return (await import('./openai-completions.ts')).createOpenAICompletionsScorer(rest);
  }
  const { kind: _kind, ...rest } = c;
  if (rest.modelPath === undefined || rest.npmDir === undefined) {
    const paths = installedLocalLlm();
    rest.modelPath ??= paths.modelPath;
    rest.npmDir ??= paths.npmDir;
  }
  return (await import('./llama-local.ts')).createLlamaLocalScorer(rest);
}
