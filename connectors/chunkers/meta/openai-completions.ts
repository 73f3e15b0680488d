import { z } from 'zod';
import { mapStatus, postJson, readRateHints } from '../../embedders/http-core.ts';
import { ConnectorError, FailureType } from '../../shared/errors.ts';
import { alignPieces, type ChatPrompt, type PromptScorer, type TokenLogprobs } from './logprobs.ts';

// A PromptScorer on an OpenAI-compatible server that returns prompt log-probabilities: vLLM (and SGLang) answer
// `POST /v1/completions` with `echo: true, logprobs: N` by echoing the prompt's tokens with the log-probability of
// each given the ones before it (the first has none). OpenAI's own API and llama.cpp's server do not.
// Token strings, not `text_offset`, place the tokens: vLLM's offsets count Python code points of the decoded tokens,
// BOS included, so they drift from the prompt's UTF-16 indices; alignPieces maps the strings exactly.
// Margin sampling goes through `POST /v1/chat/completions` so the server applies the model's own chat template; the
// answer's first-token probabilities come from `top_logprobs` (vLLM allows at most 20 by default).
// Failures map to ConnectorErrors and are not retried here: Temporal's retry policy owns retries.

export const OpenAICompletionsScorerConfig = z.object({
  /** Base URL up to and including `/v1`, e.g. `http://gpu-1:8000/v1`. */
  baseUrl: z.string().url(),
  model: z.string().min(1),
  apiKey: z.string().optional(),
  /** 0 asks for no generated token (vLLM 0.6+); 1 works on older servers, and the generated token is dropped. */
  maxTokens: z.union([z.literal(0), z.literal(1)]).default(1),
  /** How many alternatives the chat endpoint lists for the answer token; a candidate outside them counts as 0. */
  topLogprobs: z.number().int().min(1).max(20).default(20),
  timeoutMs: z.number().int().positive().default(120_000),
});
export type OpenAICompletionsScorerConfig = z.input<typeof OpenAICompletionsScorerConfig>;

const CompletionBody = z.object({
  choices: z
    .array(
      z.object({
        logprobs: z.object({
          tokens: z.array(z.string()),
          token_logprobs: z.array(z.number().nullable()),
          text_offset: z.array(z.number()).optional(),
        }),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number().int().nonnegative() }).partial().optional(),
});

const ChatBody = z.object({
  choices: z
    .array(
      z.object({
        logprobs: z
          .object({
            content: z
              .array(
                z.object({
                  token: z.string(),
                  logprob: z.number(),
                  top_logprobs: z.array(z.object({ token: z.string(), logprob: z.number() })),
                }),
              )
              .nullable(),
          })
          .nullable()
          .optional(),
      }),
    )
    .min(1),
});

export function createOpenAICompletionsScorer(config: OpenAICompletionsScorerConfig): PromptScorer {
  const c = OpenAICompletionsScorerConfig.parse(config);
  const base = c.baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {};
  const provider = `completions ${base}`;

  async function post(path: string, body: unknown): Promise<unknown> {
    const res = await postJson(`${base}${path}`, body, { headers, timeoutMs: c.timeoutMs });
    if (res.status >= 200 && res.status < 300) return res.body;
    throw mapStatus(provider, res.status, res.body, readRateHints(res.headers)).error;
  }

  function malformed(what: string, issue: unknown): ConnectorError {
    // A server without prompt log-probabilities (or not OpenAI-shaped at all) is a deployment problem, not bad input.
    return new ConnectorError(FailureType.Unavailable, `${provider}: ${what} (${String(issue).slice(0, 300)})`);
  }

  return {
    name: `openai-completions:${c.model}`,
    async scoreText(text: string): Promise<TokenLogprobs> {
      if (text.length === 0) return { offsets: [], logprobs: [] };
      const raw = await post('/completions', {
        model: c.model,
        prompt: text,
        echo: true,
        logprobs: 1,
        max_tokens: c.maxTokens,
        temperature: 0,
      });
      const parsed = CompletionBody.safeParse(raw);
      if (!parsed.success)
        throw malformed(
          'no prompt log-probabilities in the answer; does the server support echo with logprobs?',
          parsed.error.message,
        );
      const lp = parsed.data.choices[0]!.logprobs;
      if (lp.tokens.length !== lp.token_logprobs.length) throw malformed('tokens and token_logprobs differ in length', '');
      let n = lp.tokens.length;
      if (c.maxTokens > 0) {
        const prompt = parsed.data.usage?.prompt_tokens;
        if (prompt === undefined || prompt > n)
          throw malformed('usage.prompt_tokens is needed to drop the generated token', prompt);
        n = prompt;
      }
      const pieces = lp.tokens.slice(0, n);
      return { offsets: alignPieces(text, pieces), logprobs: lp.token_logprobs.slice(0, n) };
    },
    async nextTokenProbs(prompt: ChatPrompt, candidates: readonly string[]): Promise<number[]> {
      const messages = [
        ...(prompt.system ? [{ role: 'system', content: prompt.system }] : []),
        { role: 'user', content: prompt.user },
      ];
      const raw = await post('/chat/completions', {
        model: c.model,
        messages,
        max_tokens: 1,
        temperature: 0,
        logprobs: true,
        top_logprobs: c.topLogprobs,
      });
      const parsed = ChatBody.safeParse(raw);
      const first = parsed.success ? parsed.data.choices[0]!.logprobs?.content?.[0] : undefined;
      if (!first) throw malformed('no logprobs for the answer token', parsed.success ? 'logprobs missing' : parsed.error.message);
      // " 1" and "1" are the same answer; add them up.
      return candidates.map((cand) =>
        first.top_logprobs.filter((t) => t.token.trim() === cand.trim()).reduce((sum, t) => sum + Math.exp(t.logprob), 0),
      );
    },
    async close() {},
  };
}
