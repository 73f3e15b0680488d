import { z } from 'zod';
import { errorMessage, type MappedFailure, mapStatus, type RateHints } from '../embedders/http-core.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { SecretInput, type SecretSource, resolveOptionalSecret } from '../shared/secret.ts';
import { createHostedReranker, HostedRerankConfig, type RerankAdapter } from './hosted.ts';
import { badReply, type Reranker } from './reranker.ts';

// Text Embeddings Inference's `POST /rerank`, and any server that copies it (checked in TEI's published API
// parameters): `{ query, texts, raw_scores, return_text, truncate, truncation_direction }`; the answer is a bare
// array `[{ index, score, text? }]`. `raw_scores: false` (TEI's default) gives the model's normalised score (sigmoid
// for one-logit cross-encoders), `true` the raw logit. TEI has no `top_n`: the cut is ours. Errors are
// `{ error, error_type }` as for `/embed`: a batch above --max-client-batch-size is Validation 413 (the request is
// halved), an input above max_input_length without `truncate` is Validation 413 too, a full queue Overloaded 429
// (no Retry-After), and a non-reranker model 424.

export const TeiRerankConfig = HostedRerankConfig.extend({
  /** The server root, e.g. `http://gpu-1:8080`. */
  baseUrl: z.url(),
  /** Sent as a bearer token when the server runs with --api-key. */
  apiKey: SecretInput.optional(),
  /** Names the model in the identity (TEI serves one model per server). */
  model: z.string().min(1),
  rawScores: z.boolean().default(false),
  /** The server's max_input_length (query plus document, in the model's tokens). */
  maxTokens: z.number().int().positive().default(512),
  /** The server's --max-client-batch-size. */
  maxDocuments: z.number().int().positive().default(32),
});
export type TeiRerankConfig = z.input<typeof TeiRerankConfig>;

function mapTeiError(status: number, body: unknown, hints: RateHints): MappedFailure {
  const type = (body as { error_type?: unknown })?.error_type;
  if (type === 'Backend' || status === 424) {
    return { action: 'fail', error: new ConnectorError(FailureType.Unavailable, `tei backend error: ${errorMessage(body)}`) };
  }
  return mapStatus('tei', status, body, hints);
}

export function createTeiReranker(config: TeiRerankConfig, secrets: SecretSource = { env: {} }): Reranker {
  const cfg = TeiRerankConfig.parse(config);
  const apiKey = resolveOptionalSecret(cfg.apiKey, 'reranker tei apiKey', secrets);
  const url = `${cfg.baseUrl.replace(/\/+$/, '')}/rerank`;
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const adapter: RerankAdapter = {
    provider: 'tei',
    request: (query, texts) => ({
      url,
      headers,
      // Truncation keeps the start of the pair: the query and the document's beginning.
      body: { query, texts, raw_scores: cfg.rawScores, return_text: false, truncate: true, truncation_direction: 'Right' },
    }),
    parse(body) {
      if (!Array.isArray(body)) throw badReply('tei', '/rerank answers a JSON array');
      return body.map((r: { index?: unknown; score?: unknown }) => ({ index: r?.index as number, score: r?.score as number }));
    },
    mapError: mapTeiError,
  };
  return createHostedReranker(adapter, {
    identity: `tei:${cfg.model}:${cfg.rawScores ? 'raw' : 'norm'}`,
    model: cfg.model,
    scoreKind: cfg.rawScores ? 'logit' : 'probability',
    maxTokens: cfg.maxTokens,
    maxDocuments: cfg.maxDocuments,
    config: cfg,
  });
}
