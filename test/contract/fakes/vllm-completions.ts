import { type FakeOptions, type FakeServer, type Reply, startFake } from './server.ts';

// vLLM's OpenAI-compatible text endpoints, as its serving code builds them, with a deterministic stand-in model.
// `POST /v1/completions` with `echo: true` and `logprobs: N` echoes the prompt's tokens: `tokens` are the decoded
// token strings (BOS first, as "<s>"), `token_logprobs` has null for the first token, `text_offset` is the running sum
// of the token strings' lengths in code points (so BOS shifts it), and with max_tokens 1 one generated token follows
// the prompt's; `usage.prompt_tokens` counts the prompt's. `POST /v1/chat/completions` with `logprobs: true` and
// `top_logprobs: K` lists the first answer token's top K alternatives. Errors use vLLM's `{object:"error", message,
// type, param, code}`. Limits as vLLM's defaults: at most 20 logprobs, prompt plus max_tokens within max_model_len.
//
// The model: a token is a word or a punctuation mark with the spaces before it. A word seen earlier in the prompt is
// likely (log 0.5), punctuation fairly likely (log 0.3), a new word unlikely (log 0.002). Sentences that continue a
// topic reuse its words and score low; the first sentence of a new topic scores high, so perplexity chunking cuts
// between topics. Chat answers weigh "2" (keep) by how many words of the last quoted passage appear in the one before.

export interface VllmFakeOptions extends FakeOptions {
  model?: string;
  maxModelLen?: number;
  maxLogprobs?: number;
  /** Overrides the chat answer: P("1") and P("2") for a user message. */
  answer?: (user: string) => { p1: number; p2: number };
}

const TOKEN = /\s*(?:[\p{L}\p{N}]+|[^\s\p{L}\p{N}])|\s+/gu;
const WORD = /[\p{L}\p{N}]+/u;

export function fakeLmTokens(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

export function fakeLmLogprob(token: string, seen: ReadonlySet<string>): number {
  const w = WORD.exec(token)?.[0]?.toLowerCase();
  if (w === undefined) return Math.log(0.3);
  return seen.has(w) ? Math.log(0.5) : Math.log(0.002);
}

function error(status: number, message: string): Reply {
  return { status, body: { object: 'error', message, type: 'BadRequestError', param: null, code: status } };
}

const cpLen = (s: string): number => Array.from(s).length;

function words(s: string): Set<string> {
  return new Set((s.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []).filter((w) => !STOP.has(w)));
}
const STOP = new Set(['the', 'and', 'for', 'with', 'that', 'this', 'are', 'was', 'its', 'into', 'from', 'parts', 'two']);

/** Default chat answer: the passages are the 2nd and 3rd quoted strings of the Meta-Chunking prompt. */
function defaultAnswer(user: string): { p1: number; p2: number } {
  const quoted = [...user.matchAll(/"([^"]*)"|“([^”]*)”/g)].map((m) => m[1] ?? m[2] ?? '');
  const a = words(quoted[1] ?? '');
  const b = words(quoted[2] ?? '');
  let shared = 0;
  for (const w of b) if (a.has(w)) shared++;
  const overlap = b.size > 0 ? shared / b.size : 0;
  const p2 = 0.1 + 0.8 * Math.min(1, overlap * 2);
  return { p1: 0.95 - p2, p2 };
}

export async function startVllmFake(opts: VllmFakeOptions = {}): Promise<FakeServer> {
  const model = opts.model ?? 'fake-lm';
  const maxLen = opts.maxModelLen ?? 4096;
  const maxLogprobs = opts.maxLogprobs ?? 20;
  const answer = opts.answer ?? defaultAnswer;

  const completions = (raw: unknown): Reply => {
    const b = raw as { model?: unknown; prompt?: unknown; echo?: unknown; logprobs?: unknown; max_tokens?: unknown };
    if (b.model !== model) return error(404, `The model \`${String(b.model)}\` does not exist.`);
    if (typeof b.prompt !== 'string') return error(400, 'prompt must be a string');
    const maxTokens = b.max_tokens ?? 16;
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 0)
      return error(400, 'max_tokens must be a non-negative integer');
    const lp = b.logprobs;
    if (lp != null && (typeof lp !== 'number' || lp < 0 || lp > maxLogprobs)) {
      return error(400, `Requested sample logprobs of ${String(lp)}, which is greater than max allowed: ${maxLogprobs}`);
    }
    const promptTokens = ['<s>', ...fakeLmTokens(b.prompt)];
    if (promptTokens.length + maxTokens > maxLen) {
      return error(
        400,
        `This model's maximum context length is ${maxLen} tokens. However, you requested ${promptTokens.length + maxTokens} tokens ` +
          `(${promptTokens.length} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
      );
    }
    const seen = new Set<string>();
    const tokenLogprobs: (number | null)[] = [];
    for (const [i, t] of promptTokens.entries()) {
      tokenLogprobs.push(i === 0 ? null : fakeLmLogprob(t, seen));
      const w = WORD.exec(t)?.[0];
      if (i > 0 && w) seen.add(w.toLowerCase());
    }
    const generated = maxTokens > 0 ? [' the'] : [];
    const tokens = b.echo ? [...promptTokens, ...generated] : generated;
    const logprobsOut = b.echo ? [...tokenLogprobs, ...generated.map(() => Math.log(0.1))] : generated.map(() => Math.log(0.1));
    const textOffset: number[] = [];
    let off = 0;
    for (const t of tokens) {
      textOffset.push(off);
      off += cpLen(t);
    }
    const text = (b.echo ? b.prompt : '') + generated.join('');
    return {
      status: 200,
      body: {
        id: `cmpl-${Date.now()}`,
        object: 'text_completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            text,
            logprobs:
              lp == null
                ? null
                : {
                    text_offset: textOffset,
                    token_logprobs: logprobsOut,
                    tokens,
                    top_logprobs: tokens.map((t, i) => (logprobsOut[i] == null ? null : { [t]: logprobsOut[i] })),
                  },
            finish_reason: 'length',
            stop_reason: null,
            prompt_logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: promptTokens.length,
          total_tokens: promptTokens.length + generated.length,
          completion_tokens: generated.length,
        },
      },
    };
  };

  const chat = (raw: unknown): Reply => {
    const b = raw as { model?: unknown; messages?: unknown; logprobs?: unknown; top_logprobs?: unknown };
    if (b.model !== model) return error(404, `The model \`${String(b.model)}\` does not exist.`);
    if (!Array.isArray(b.messages) || b.messages.length === 0) return error(400, 'messages must be a non-empty list');
    const k = typeof b.top_logprobs === 'number' ? b.top_logprobs : 0;
    if (k > maxLogprobs) return error(400, `top_logprobs must be at most ${maxLogprobs}`);
    const user = String((b.messages as { content?: unknown }[]).findLast((m) => typeof m.content === 'string')?.content ?? '');
    const { p1, p2 } = answer(user);
    const rest = Math.max(0, 1 - p1 - p2);
    const alts = [
      { token: '1', logprob: Math.log(p1) },
      { token: '2', logprob: Math.log(p2) },
      { token: 'The', logprob: Math.log(rest * 0.6 || 1e-9) },
      { token: 'I', logprob: Math.log(rest * 0.3 || 1e-9) },
    ].sort((x, y) => y.logprob - x.logprob);
    const top = alts[0]!;
    const withBytes = (t: { token: string; logprob: number }) => ({ ...t, bytes: [...Buffer.from(t.token)] });
    return {
      status: 200,
      body: {
        id: `chatcmpl-${Date.now()}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: top.token },
            logprobs: b.logprobs ? { content: [{ ...withBytes(top), top_logprobs: alts.slice(0, k).map(withBytes) }] } : null,
            finish_reason: 'length',
          },
        ],
        usage: { prompt_tokens: fakeLmTokens(user).length, completion_tokens: 1, total_tokens: fakeLmTokens(user).length + 1 },
      },
    };
  };

  return startFake(
    { '/v1/completions': completions, '/v1/chat/completions': chat },
    { status: 401, body: { error: 'Unauthorized' } },
    opts,
  );
}
