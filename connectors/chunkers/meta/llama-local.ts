import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../../shared/errors.ts';
import { defaultLlmPath, defaultNodeLlamaCppDir, importNodeLlamaCpp } from './local-llm-files.ts';
import { alignPieces, type ChatPrompt, type PromptScorer, type TokenLogprobs } from './logprobs.ts';

// A PromptScorer on a small GGUF causal LM (SmolLM2-135M-Instruct by default) run in-process on the CPU through
// node-llama-cpp, so meta-chunking works offline. Prompt log-probabilities come from
// `LlamaContextSequence.controlledEvaluate`: one causal pass over the tokens, asking at every position for the
// next-token distribution and reading the probability of the token that actually follows. The library only hands
// out the whole distribution (a 49,152-entry Map per position for SmolLM2), which costs more than the forward pass
// itself; there is no public call for the probability of one given token, and a truncated top-k would change the
// numbers, so the exact route is kept and its cost reported (see the report's measurements).
// The greedy sampler (temperature 0) leaves the candidate list untouched, so the probabilities are the plain softmax.

export const LlamaLocalScorerConfig = z.object({
  modelPath: z.string().optional(),
  /** Folder node-llama-cpp was installed into by scripts/fetch-llm.ts. */
  npmDir: z.string().optional(),
  contextSize: z.number().int().min(256).default(4096),
  /** llama.cpp threads; it spin-waits, so more threads than idle cores is slower, not faster. */
  threads: z.number().int().min(1).optional(),
});
export type LlamaLocalScorerConfig = z.input<typeof LlamaLocalScorerConfig>;

// The few parts of node-llama-cpp used here; its types live in a folder the project does not compile against.
type Token = number;
type Input = Token | [Token, { generateNext?: { probabilities?: boolean; options?: { temperature?: number } } }];
interface Sequence {
  clearHistory(): Promise<void>;
  controlledEvaluate(input: Input[]): Promise<Array<undefined | { next: { probabilities?: Map<Token, number> } }>>;
}
interface Model {
  tokenize(text: string, specialTokens?: boolean): Token[];
  detokenize(tokens: readonly Token[], specialTokens?: boolean, lastTokens?: readonly Token[]): string;
  readonly tokenizer: unknown;
  readonly filename?: string;
  createContext(o: { contextSize: number; batchSize: number; threads: number }): Promise<{
    getSequence(): Sequence;
    dispose(): Promise<void>;
  }>;
  dispose(): Promise<void>;
}
interface ChatHistoryItem {
  type: 'system' | 'user' | 'model';
  text?: string;
  response?: string[];
}
interface Lib {
  getLlama(o: Record<string, unknown>): Promise<{
    loadModel(o: { modelPath: string; gpuLayers: number }): Promise<Model>;
    dispose(): Promise<void>;
  }>;
  resolveChatWrapper(model: Model): {
    generateContextState(o: { chatHistory: ChatHistoryItem[] }): { contextText: { tokenize(tokenizer: unknown): Token[] } };
  };
  LlamaLogLevel: { error: string };
}

export interface LlamaLocalScorer extends PromptScorer {
  /** Tokens scored so far (for throughput reports). */
  readonly stats: { tokens: number; calls: number };
}

export async function createLlamaLocalScorer(config: LlamaLocalScorerConfig = {}): Promise<LlamaLocalScorer> {
  const c = LlamaLocalScorerConfig.parse(config);
  const modelPath = c.modelPath ?? defaultLlmPath();
  const lib = (await importNodeLlamaCpp(c.npmDir ?? defaultNodeLlamaCppDir())) as Lib;
  const llama = await lib.getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: lib.LlamaLogLevel.error,
  });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const threads = c.threads ?? Math.max(1, Math.floor(availableParallelism() / 2));
  const context = await model.createContext({ contextSize: c.contextSize, batchSize: 512, threads });
  const sequence = context.getSequence();
  const chat = lib.resolveChatWrapper(model);
  const stats = { tokens: 0, calls: 0 };
  // One sequence, one evaluation at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  };
  const NEXT = { generateNext: { probabilities: true, options: { temperature: 0 } } };

  function fits(n: number, what: string): void {
    if (n > c.contextSize) {
      throw new ConnectorError(
        FailureType.InvalidInput,
        `${what} is ${n} tokens, over the local LM's context of ${c.contextSize}`,
      );
    }
  }

  async function evaluate(tokens: Token[], wantAt: (i: number) => boolean) {
    await sequence.clearHistory();
    stats.tokens += tokens.length;
    stats.calls++;
    return sequence.controlledEvaluate(tokens.map((t, i) => (wantAt(i) ? [t, NEXT] : t)));
  }

  return {
    name: `llama-local:${modelPath.split('/').pop()}`,
    stats,
    scoreText: (text: string) =>
      serial(async (): Promise<TokenLogprobs> => {
        const tokens = model.tokenize(text);
        if (tokens.length === 0) return { offsets: [], logprobs: [] };
        fits(tokens.length, 'the text to score');
        const out = await evaluate(tokens, (i) => i < tokens.length - 1);
        const logprobs: (number | null)[] = [null];
        for (let i = 0; i + 1 < tokens.length; i++) {
          const p = out[i]?.next.probabilities?.get(tokens[i + 1]!) ?? 0;
          // vLLM clamps at -9999 too; a probability that underflows to 0 stays finite.
          logprobs.push(Math.max(Math.log(p), -9999));
        }
        const pieces = tokens.map((t, i) => model.detokenize([t], false, tokens.slice(Math.max(0, i - 4), i)));
        return { offsets: alignPieces(text, pieces), logprobs };
      }),
    nextTokenProbs: (prompt: ChatPrompt, candidates: readonly string[]) =>
      serial(async (): Promise<number[]> => {
        const history: ChatHistoryItem[] = [];
        if (prompt.system) history.push({ type: 'system', text: prompt.system });
        history.push({ type: 'user', text: prompt.user }, { type: 'model', response: [] });
        const tokens = chat.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
        fits(tokens.length, 'the prompt');
        const out = await evaluate(tokens, (i) => i === tokens.length - 1);
        const probs = out[tokens.length - 1]?.next.probabilities;
        if (!probs) throw new ConnectorError(FailureType.Unavailable, 'the local LM returned no next-token probabilities');
        // A candidate is the first token of its own tokenization ("1" is one token in every vocabulary we ship).
        return candidates.map((cand) => probs.get(model.tokenize(cand)[0]!) ?? 0);
      }),
    close: () =>
      serial(async () => {
        await context.dispose();
        await model.dispose();
        await llama.dispose();
      }),
  };
}
