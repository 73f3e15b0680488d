import { z } from 'zod';
import { backoffMs, type MappedFailure, postJson, type RateHints, readRateHints, sleep } from '../embedders/http-core.ts';
import { ConnectorError } from '../shared/errors.ts';
import { checkRerankInput, finishResults, type Reranker, type RerankResult, type ScoreKind } from './reranker.ts';

// The engine every hosted rerank API runs on, on the embedders' HTTP layer (plain fetch, one place that reads
// Retry-After). A call with more documents than one request may carry is split into consecutive requests whose
// results are merged by score. That is exact for pointwise models (each pair is scored alone: cross-encoders, and the
// services' rerankers scored that way), not for listwise ones whose scores depend on the other documents in the
// request: keep `maxDocuments` at the API's own limit so one call is one request wherever the API allows it.
// 429/503 are waited out inside the call up to `maxWaitMs` (Retry-After when sent, else jittered backoff), then
// handed to Temporal as a retryable error carrying the delay; 413 halves the request; anything else is thrown as
// the provider's table maps it. No SDK retries stack under ours.

export const HostedRerankConfig = z.object({
  /** Documents per request (the API's documented maximum unless a smaller one is wanted). */
  maxDocuments: z.number().int().positive().optional(),
  timeoutMs: z.number().int().positive().default(30_000),
  /** How long one call may wait out 429/503 before handing the wait to Temporal. */
  maxWaitMs: z.number().int().min(0).default(10_000),
  /** Requests of one split call in flight at once. */
  concurrency: z.number().int().positive().default(2),
});
export type HostedRerankConfig = z.output<typeof HostedRerankConfig>;

export interface RerankRequest {
  url: string;
  body: unknown;
  headers: Record<string, string>;
}

/** What a provider file supplies: its wire shapes and its one status-to-error table. */
export interface RerankAdapter {
  provider: string;
  /** `topN` is set only when the whole call is one request (split calls need every score). */
  request(query: string, documents: string[], topN: number | undefined): RerankRequest;
  /** Results with indexes into the request's documents. */
  parse(body: unknown): RerankResult[];
  mapError(status: number, body: unknown, hints: RateHints): MappedFailure;
}

export interface HostedRerankSpec {
  identity: string;
  model: string;
  scoreKind: ScoreKind;
  maxTokens: number;
  /** Documents one request may carry. */
  maxDocuments: number;
  config: HostedRerankConfig;
}

class TooLarge extends Error {}

export function createHostedReranker(adapter: RerankAdapter, spec: HostedRerankSpec): Reranker {
  const cfg = spec.config;
  const p = adapter.provider;
  let closed = false;

  async function send(query: string, docs: string[], topN: number | undefined, signal?: AbortSignal): Promise<RerankResult[]> {
    const deadline = Date.now() + cfg.maxWaitMs;
    const req = adapter.request(query, docs, topN);
    for (let attempt = 0; ; attempt++) {
      const res = await postJson(req.url, req.body, {
        headers: req.headers,
        timeoutMs: cfg.timeoutMs,
        ...(signal ? { signal } : {}),
      });
      if (res.status >= 200 && res.status < 300) {
        return finishResults(p, adapter.parse(res.body), docs.length, undefined, topN !== undefined && topN < docs.length);
      }
      const hints = readRateHints(res.headers);
      const failure = adapter.mapError(res.status, res.body, hints);
      if (failure.action === 'wait') {
        const wait = hints.retryAfterMs ?? backoffMs(attempt);
        if (Date.now() + wait > deadline) {
          // Past the bound: Temporal retries the activity after the server's delay (activities/failures.ts).
          throw new ConnectorError(failure.error.type, `${failure.error.message} (still limited after ${cfg.maxWaitMs} ms)`, {
            retryAfterMs: Math.max(wait, 1000),
          });
        }
        await sleep(wait, signal);
        continue;
      }
      if (failure.action === 'split' && docs.length > 1) throw new TooLarge(failure.error.message);
      throw failure.error;
    }
  }

  /** Scores `docs` in requests of at most `size`, halving the size when the server says a request is too large. */
  async function scoreAll(query: string, docs: string[], size: number, signal?: AbortSignal): Promise<RerankResult[]> {
    const out: RerankResult[] = [];
    const starts = Array.from({ length: Math.ceil(docs.length / size) }, (_, i) => i * size);
    let next = 0;
    const lanes = Array.from({ length: Math.min(cfg.concurrency, starts.length) }, async () => {
      while (next < starts.length) {
        const start = starts[next++]!;
        const part = docs.slice(start, start + size);
        let got: RerankResult[];
        try {
          got = await send(query, part, undefined, signal);
        } catch (err) {
          if (!(err instanceof TooLarge)) throw err;
          got = await scoreAll(query, part, Math.ceil(part.length / 2), signal);
        }
        for (const r of got) out.push({ index: start + r.index, score: r.score });
      }
    });
    await Promise.all(lanes);
    return out;
  }

  return {
    identity: spec.identity,
    provider: p,
    model: spec.model,
    scoreKind: spec.scoreKind,
    maxTokens: spec.maxTokens,
    async rerank(query, documents, opts = {}) {
      if (closed) throw new Error(`${p} reranker is closed`);
      checkRerankInput(query, documents, opts);
      if (documents.length === 0) return [];
      const docs = [...documents];
      if (docs.length <= spec.maxDocuments) {
        try {
          return finishResults(p, await send(query, docs, opts.topN, opts.signal), docs.length, opts.topN, true);
        } catch (err) {
          if (!(err instanceof TooLarge)) throw err;
        }
        return finishResults(p, await scoreAll(query, docs, Math.ceil(docs.length / 2), opts.signal), docs.length, opts.topN);
      }
      return finishResults(p, await scoreAll(query, docs, spec.maxDocuments, opts.signal), docs.length, opts.topN);
    },
    async close() {
      closed = true;
    },
  };
}
