import { z } from 'zod';
import { mapStatus } from '../embedders/http-core.ts';
import { SecretInput, type SecretSource, resolveSecret } from '../shared/secret.ts';
import { createHostedReranker, HostedRerankConfig, type RerankAdapter } from './hosted.ts';
import { parseRelevanceResults } from './jina.ts';
import type { Reranker } from './reranker.ts';

// Cohere's Rerank v2, `POST /v2/rerank` (checked in Cohere's API reference and the Rerank 3.5 changelog): `model` is
// required; `documents` is a list of strings (v2 dropped document objects); `top_n` limits the results;
// `max_tokens_per_doc` (default 4,096) truncates long documents server-side. Cohere recommends at most 1,000
// documents per request, and its best-practices page gives 10,000 as the maximum and 2,048 tokens as the longest
// query. The answer is `{ id, results: [{ index, relevance_score }], meta: { billed_units: { search_units } } }`,
// results sorted best first; errors are `{ message }`; 429 when rate limited.

export const CohereRerankConfig = HostedRerankConfig.extend({
  baseUrl: z.url().default('https://api.cohere.com'),
  apiKey: SecretInput,
  model: z.string().min(1).default('rerank-v3.5'),
  /** Sent as `max_tokens_per_doc`: longer documents are cut by the service. Also Reranker.maxTokens. */
  maxTokensPerDoc: z.number().int().positive().default(4096),
  /** Documents per request: Cohere's recommended 1,000 unless set; its maximum is 10,000. */
  maxDocuments: z.number().int().positive().max(10_000).optional(),
});
export type CohereRerankConfig = z.input<typeof CohereRerankConfig>;

const RECOMMENDED_DOCUMENTS = 1000;

export function createCohereReranker(config: CohereRerankConfig, secrets: SecretSource = { env: {} }): Reranker {
  const cfg = CohereRerankConfig.parse(config);
  const apiKey = resolveSecret(cfg.apiKey, 'reranker cohere apiKey', secrets);
  const url = `${cfg.baseUrl.replace(/\/+$/, '')}/v2/rerank`;
  const adapter: RerankAdapter = {
    provider: 'cohere',
    request: (query, documents, topN) => ({
      url,
      headers: { authorization: `Bearer ${apiKey}`, 'x-client-name': 'ragline' },
      body: {
        model: cfg.model,
        query,
        documents,
        max_tokens_per_doc: cfg.maxTokensPerDoc,
        ...(topN !== undefined ? { top_n: topN } : {}),
      },
    }),
    parse: (body) => parseRelevanceResults('cohere', body),
    mapError: (status, body, hints) => mapStatus('cohere', status, body, hints),
  };
  return createHostedReranker(adapter, {
    identity: `cohere:${cfg.model}:t${cfg.maxTokensPerDoc}`,
    model: cfg.model,
    scoreKind: 'probability',
    maxTokens: cfg.maxTokensPerDoc,
    maxDocuments: cfg.maxDocuments ?? RECOMMENDED_DOCUMENTS,
    config: cfg,
  });
}
