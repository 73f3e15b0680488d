import { z } from 'zod';
import { mapStatus } from '../embedders/http-core.ts';
import { SecretInput, type SecretSource, resolveSecret } from '../shared/secret.ts';
import { createHostedReranker, HostedRerankConfig, type RerankAdapter } from './hosted.ts';
import { badReply, type Reranker } from './reranker.ts';

// Jina's `POST /v1/rerank` (checked against published request/response examples): body `{ model, query, documents,
// top_n, return_documents }`, answer `{ model, usage: { total_tokens }, results: [{ index, relevance_score,
// document? }] }` sorted best first, errors FastAPI's `{ detail }`. We send `return_documents: false`: the caller has
// the texts. Not confirmed in the docs read here: a documented cap on documents per request and the server's
// truncation of over-long documents; `maxDocuments` defaults to 1,000 (Cohere's published recommendation for the same
// kind of API) and can be set to whatever the account's limits say. jina-reranker-v3 is listwise (documents of one
// request see each other): keep a call within one request for it.

export const JinaRerankConfig = HostedRerankConfig.extend({
  baseUrl: z.url().default('https://api.jina.ai/v1'),
  apiKey: SecretInput,
  model: z.string().min(1).default('jina-reranker-v2-base-multilingual'),
  /** Tokens of query plus document the model sees (v2: 1,024; Reranker.maxTokens). */
  maxTokens: z.number().int().positive().default(1024),
});
export type JinaRerankConfig = z.input<typeof JinaRerankConfig>;

/** Our default, not a documented Jina limit (see above). */
const DEFAULT_DOCUMENTS = 1000;

export function parseRelevanceResults(provider: string, body: unknown): { index: number; score: number }[] {
  const results = (body as { results?: unknown })?.results;
  if (!Array.isArray(results)) throw badReply(provider, 'no results array');
  return results.map((r: { index?: unknown; relevance_score?: unknown }) => ({
    index: r?.index as number,
    score: r?.relevance_score as number,
  }));
}

/** `secrets` resolves `{ env }` / `{ file }` API keys; an inline key needs none. */
export function createJinaReranker(config: JinaRerankConfig, secrets: SecretSource = { env: {} }): Reranker {
  const cfg = JinaRerankConfig.parse(config);
  const apiKey = resolveSecret(cfg.apiKey, 'reranker jina apiKey', secrets);
  const url = `${cfg.baseUrl.replace(/\/+$/, '')}/rerank`;
  const adapter: RerankAdapter = {
    provider: 'jina',
    request: (query, documents, topN) => ({
      url,
      headers: { authorization: `Bearer ${apiKey}` },
      body: { model: cfg.model, query, documents, return_documents: false, ...(topN !== undefined ? { top_n: topN } : {}) },
    }),
    parse: (body) => parseRelevanceResults('jina', body),
    mapError: (status, body, hints) => mapStatus('jina', status, body, hints),
  };
  return createHostedReranker(adapter, {
    identity: `jina:${cfg.model}`,
    model: cfg.model,
    scoreKind: 'probability',
    maxTokens: cfg.maxTokens,
    maxDocuments: cfg.maxDocuments ?? DEFAULT_DOCUMENTS,
    config: cfg,
  });
}
