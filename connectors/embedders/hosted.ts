import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { EmbedCallOptions, Embedder } from './embedder.ts';
import { backoffMs, type MappedFailure, postJson, type RateHints, readRateHints, sleep } from './http-core.ts';
import { createMemoryRateBudget, type RateBudget, RateLimitsConfig } from './rate-budget.ts';
import { badShape, truncateAndNormalise } from './vectors.ts';
import { metrics } from '../shared/metrics.ts';

// The engine every hosted provider runs on: formatting hook, batching by the API's input-count and token limits,
// the shared rate budget, 429/503 waited out up to a bound, and a batch rejected for its content bisected until the
// inputs at fault are isolated. A provider supplies only its request/response shapes and its status table.

export type EmbedKind = 'document' | 'query';

/** Optional document/query formatting (the model catalog's prefixes); `version` enters the identity. */
export interface EmbedFormat {
  document?(text: string): string;
  query?(text: string): string;
  version?: string;
}

export type EmbedOutcome = { ok: true; vector: Float32Array } | { ok: false; error: ConnectorError };

/**
 * `embedDocuments` is all-or-nothing, so inputs the API rejected on their own (after bisection) surface as this
 * non-retryable error; it lists the bad indexes and carries the vectors of every other input, so a caller may cache
 * those and fail the document (or drop the named chunks). `embedDocumentsSettled` returns the same as data.
 */
export class EmbedInputsError extends ConnectorError {
  override name = 'EmbedInputsError';
  readonly failures: { index: number; message: string }[];
  readonly vectors: (Float32Array | undefined)[];

  constructor(provider: string, outcomes: EmbedOutcome[]) {
    const failures = outcomes.flatMap((o, index) => (o.ok ? [] : [{ index, message: o.error.message }]));
    const shown = failures.slice(0, 5).map((f) => `[${f.index}] ${f.message}`);
    const more = failures.length > shown.length ? `; and ${failures.length - shown.length} more` : '';
    super(
      FailureType.InvalidInput,
      `${provider} rejected ${failures.length} of ${outcomes.length} inputs: ${shown.join('; ')}${more}`,
    );
    this.failures = failures;
    this.vectors = outcomes.map((o) => (o.ok ? o.vector : undefined));
  }
}

export interface HostedEmbedder extends Embedder {
  /** Per-input results: a vector, or the typed error that input alone caused. Call-wide failures still throw. */
  embedDocumentsSettled(texts: string[], opts?: EmbedCallOptions): Promise<EmbedOutcome[]>;
}

export interface ProviderRequest {
  url: string;
  body: unknown;
  headers: Record<string, string>;
}

/** What a provider file supplies: its wire shapes and its one status-to-error table. */
export interface ProviderAdapter {
  provider: string;
  /** May be async: an adapter that tokenizes on the worker (TEI with `tokenizer`) encodes first. */
  request(texts: string[], kind: EmbedKind): ProviderRequest | Promise<ProviderRequest>;
  /** Vectors in input order, and the input tokens the server billed when it says. */
  parse(body: unknown, count: number): { vectors: Float32Array[]; tokens?: number };
  mapError(status: number, body: unknown, hints: RateHints): MappedFailure;
}

/** Settings every hosted provider's zod config extends. */
export const HostedCommonConfig = z.object({
  /** The model's native output size (what the server returns without `dimensions`). */
  dims: z.number().int().positive(),
  /** Matryoshka target size; refused unless `matryoshkaDims` allows it. */
  dimensions: z.number().int().positive().optional(),
  /** Sizes the model was trained to be cut to, or 'any' (OpenAI v3). Unset: no truncation allowed. */
  matryoshkaDims: z.union([z.array(z.number().int().positive()), z.literal('any')]).optional(),
  /** The largest input the model sees, in its tokens (Embedder.maxTokens). */
  maxTokens: z.number().int().positive().default(8192),
  /** Texts per request (the API's documented maximum unless a smaller one is wanted). */
  maxInputs: z.number().int().positive().optional(),
  /** Estimated input tokens per request. */
  maxTokensPerRequest: z.number().int().positive().optional(),
  timeoutMs: z.number().int().positive().default(60_000),
  /** How long one call may wait out 429/503 and the budget before handing the wait to Temporal. */
  maxWaitMs: z.number().int().min(0).default(60_000),
  /** Requests of one call in flight at once. */
  concurrency: z.number().int().positive().default(4),
  /** Used only when no shared RateBudget is passed: a budget for this process alone. */
  rateLimits: RateLimitsConfig.optional(),
});
export type HostedCommonConfig = z.output<typeof HostedCommonConfig>;

/** Things that are not configuration: a budget shared with other embedders and processes, formatting, a tokenizer. */
export interface HostedDeps {
  budget?: RateBudget;
  format?: EmbedFormat;
  /** Exact token counter for the model when one is at hand; the default estimate errs high for prose. */
  countTokens?: (text: string) => number;
}

/**
 * A token estimate that stays at or above BPE counts for most text: an ASCII word costs one token per 4 letters,
 * ASCII punctuation one each, any other character 1.5 (CJK runs at about 1.1 cl100k tokens per character). Measured
 * against cl100k on this repo's docs and code it reads 1.2-1.45x high, on Chinese prose 1.3x. Used for batching and
 * the budget; the server's reported usage replaces it after each request.
 */
export function estimateTokens(text: string): number {
  let n = 0;
  for (const m of text.matchAll(/[A-Za-z0-9]+|[^\sA-Za-z0-9]/g)) {
    const s = m[0];
    n += s.length > 1 ? Math.ceil(s.length / 4) : s.charCodeAt(0) < 128 ? 1 : 1.5;
  }
  return Math.ceil(n);
}

/** Greedy, order-keeping packing of inputs into requests (contiguous, so late chunking keeps neighbours together). */
export function packBatches(
  tokens: readonly number[],
  indexes: readonly number[],
  maxInputs: number,
  maxTokens: number,
): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let curTokens = 0;
  for (const i of indexes) {
    const t = tokens[i]!;
    if (cur.length > 0 && (cur.length >= maxInputs || curTokens + t > maxTokens)) {
      out.push(cur);
      cur = [];
      curTokens = 0;
    }
    cur.push(i);
    curTokens += t;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

class BatchRejected extends Error {
  readonly failure: MappedFailure;
  constructor(failure: MappedFailure) {
    super(failure.error.message);
    this.failure = failure;
  }
}

export interface HostedSpec {
  identity: string;
  /** Output dims after any truncation. */
  dims: number;
  /** Truncate + renormalise here (the API has no `dimensions`): the server returns `nativeDims`. */
  clientTruncateFrom?: number;
  metric?: Embedder['metric'];
  maxTokens: number;
  maxInputs: number;
  maxTokensPerRequest: number;
  config: HostedCommonConfig;
}

export function createHostedEmbedder(adapter: ProviderAdapter, spec: HostedSpec, deps: HostedDeps = {}): HostedEmbedder {
  const cfg = spec.config;
  const budget = deps.budget ?? createMemoryRateBudget(cfg.rateLimits ?? {});
  const ownsBudget = deps.budget === undefined;
  const count = deps.countTokens ?? estimateTokens;
  const wireDims = spec.clientTruncateFrom ?? spec.dims;

  async function send(texts: string[], tokens: number, kind: EmbedKind, signal: AbortSignal): Promise<Float32Array[]> {
    const deadline = Date.now() + cfg.maxWaitMs;
    const req = await adapter.request(texts, kind);
    for (let attempt = 0; ; attempt++) {
      const grant = await budget.acquire({ requests: 1, tokens }, { deadline, leaseMs: cfg.timeoutMs, signal });
      let res;
      try {
        res = await postJson(req.url, req.body, { headers: req.headers, timeoutMs: cfg.timeoutMs, signal });
      } catch (err) {
        await grant.settle();
        throw err;
      }
      const hints = readRateHints(res.headers);
      await budget.observe(hints);
      if (res.status >= 200 && res.status < 300) {
        let parsed;
        try {
          parsed = adapter.parse(res.body, texts.length);
        } finally {
          // A malformed answer still cost a request: settle it so it stops counting a window from now.
          await grant.settle(parsed?.tokens);
        }
        return parsed.vectors.map((v) => shape(v));
      }
      await grant.settle();
      const failure = adapter.mapError(res.status, res.body, hints);
      if (failure.action === 'wait') {
        const wait = hints.retryAfterMs ?? backoffMs(attempt);
        if (Date.now() + wait > deadline) {
          // Past the bound: Temporal retries the activity after the server's delay (activities/failures.ts).
          throw new ConnectorError(failure.error.type, `${failure.error.message} (still limited after ${cfg.maxWaitMs} ms)`, {
            retryAfterMs: Math.max(wait, 1000),
          });
        }
        // With Retry-After the budget now holds every sharer back; without it only this call backs off.
        if (hints.retryAfterMs === undefined) {
          await sleep(wait, signal);
          metrics.rateLimitWaitSeconds.inc({ budget: 'backoff' }, wait / 1000);
        }
        continue;
      }
      if (failure.action === 'bisect' || failure.action === 'split') throw new BatchRejected(failure);
      throw failure.error;
    }
  }

  function shape(v: Float32Array): Float32Array {
    if (v.length !== wireDims) throw badShape(`${adapter.provider} returned ${v.length} dims, expected ${wireDims}`);
    return spec.clientTruncateFrom !== undefined && spec.dims < wireDims ? truncateAndNormalise(v, spec.dims) : v;
  }

  async function settled(texts: string[], kind: EmbedKind, signal?: AbortSignal): Promise<EmbedOutcome[]> {
    signal?.throwIfAborted();
    const fmt = kind === 'query' ? deps.format?.query : deps.format?.document;
    const input = fmt ? texts.map((t) => fmt(t)) : texts;
    const out: EmbedOutcome[] = new Array(texts.length);
    const ok: number[] = [];
    input.forEach((t, i) => {
      if (t.trim() === '') out[i] = { ok: false, error: new ConnectorError(FailureType.InvalidInput, 'empty input') };
      else ok.push(i);
    });
    const tokens = input.map((t) => count(t));
    const ctl = new AbortController();
    const abandon = () => ctl.abort(signal!.reason);
    signal?.addEventListener('abort', abandon, { once: true });

    async function run(batch: number[]): Promise<void> {
      try {
        const t = batch.reduce((s, i) => s + tokens[i]!, 0);
        const vectors = await send(
          batch.map((i) => input[i]!),
          t,
          kind,
          ctl.signal,
        );
        if (vectors.length !== batch.length) throw badShape(`${vectors.length} vectors for ${batch.length} inputs`);
        batch.forEach((i, k) => (out[i] = { ok: true, vector: vectors[k]! }));
      } catch (err) {
        if (!(err instanceof BatchRejected)) throw err;
        if (batch.length === 1) {
          const e = err.failure.error;
          out[batch[0]!] = { ok: false, error: new ConnectorError(FailureType.InvalidInput, e.message, { cause: e }) };
          return;
        }
        // Halves in order, one after the other: cost grows as log(batch) per bad input, and order is kept.
        const mid = Math.ceil(batch.length / 2);
        await run(batch.slice(0, mid));
        await run(batch.slice(mid));
      }
    }

    const batches = packBatches(tokens, ok, spec.maxInputs, spec.maxTokensPerRequest);
    let next = 0;
    const lanes = Array.from({ length: Math.min(cfg.concurrency, batches.length) }, async () => {
      while (next < batches.length && !ctl.signal.aborted) await run(batches[next++]!);
    });
    try {
      await Promise.all(lanes);
    } catch (err) {
      ctl.abort(err);
      throw err;
    } finally {
      signal?.removeEventListener('abort', abandon);
    }
    return out;
  }

  return {
    identity: spec.identity + (deps.format?.version ? `:f${deps.format.version}` : ''),
    dims: spec.dims,
    metric: spec.metric ?? 'cosine',
    maxTokens: spec.maxTokens,
    countTokens: count,
    embedDocumentsSettled: (texts, opts) => settled(texts, 'document', opts?.signal),
    async embedDocuments(texts, opts) {
      const outcomes = await settled(texts, 'document', opts?.signal);
      if (outcomes.some((o) => !o.ok)) throw new EmbedInputsError(adapter.provider, outcomes);
      return outcomes.map((o) => (o as { vector: Float32Array }).vector);
    },
    async embedQuery(text) {
      const [o] = await settled([text], 'query');
      if (!o!.ok) throw o!.error;
      return o!.vector;
    },
    async close() {
      if (ownsBudget) await budget.close();
    },
  };
}
