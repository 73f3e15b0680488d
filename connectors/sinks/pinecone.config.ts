import { z } from 'zod';
import { resolveSecret, SecretInput, type SecretSource } from '../shared/secret.ts';

// The sink's settings alone, so a pipeline spec validates without loading the vendor SDK.
export const PineconeSinkConfig = z.object({
  apiKey: z.string().min(1),
  /** The index's data-plane host, e.g. https://my-index-abc123.svc.aped-4627-b74a.pinecone.io (or http://127.0.0.1:PORT). */
  indexHost: z.string().min(1),
  /** When set, ensureIndex also confirms dimension and metric through the control plane's describe index. */
  indexName: z.string().min(1).optional(),
  /** Control-plane base URL; the SDK's default (https://api.pinecone.io) when unset. */
  controllerHostUrl: z.string().min(1).optional(),
  /** The index's metric, fixed at creation; IndexSpecs with another metric are rejected and scores are read by it. */
  metric: z.enum(['cosine', 'dotproduct', 'euclidean']).default('cosine'),
  namespacePrefix: z.string().default(''),
  /** Per-request ceilings; the service's limits are 1,000 records and 2 MB per upsert. */
  maxBatchRecords: z.number().int().min(1).max(1000).default(1000),
  maxRequestBytes: z.number().int().min(50_000).max(2_000_000).default(2_000_000),
  /** Metadata bytes per record, under the service's 40,960 with room for differences in how it counts. */
  maxMetadataBytes: z.number().int().min(4096).max(40_960).default(40_000),
  /** Upsert requests in flight at once. */
  concurrency: z.number().int().min(1).max(32).default(4),
  requestTimeoutMs: z.number().int().min(1).default(30_000),
  /**
   * Hybrid search: every record also carries a BM25 sparse vector of its text, computed by the sink over collection
   * statistics kept beside the ledger, and hybridSearch queries both halves. Pinecone takes sparse values only in a
   * dotproduct index, so `metric` must be dotproduct; a cosine pipeline's vectors are then stored at unit length.
   */
  sparse: z
    .object({
      kind: z.literal('bm25'),
      /** Term-frequency saturation (Lucene's default). */
      k1: z.number().min(0).max(10).default(1.2),
      /** Length normalisation, 0 (none) to 1 (full). */
      b: z.number().min(0).max(1).default(0.75),
    })
    .optional(),
});
export type PineconeSinkConfig = z.input<typeof PineconeSinkConfig>;

/** The sink as a pipeline spec declares it: the API key by reference, inline (as before), or PINECONE_API_KEY. */
export const PineconeSinkSpecFields = PineconeSinkConfig.extend({ apiKey: SecretInput.optional() });
export type PineconeSinkSpecFields = z.infer<typeof PineconeSinkSpecFields>;

/** Reads the spec's API key (at worker start) into the connector's own config. */
export function pineconeSinkConfigOf(spec: PineconeSinkSpecFields, what: string, source: SecretSource): PineconeSinkConfig {
  const { apiKey, ...rest } = spec;
  return { ...rest, apiKey: resolveSecret(apiKey ?? { env: 'PINECONE_API_KEY' }, `${what} apiKey`, source) };
}
