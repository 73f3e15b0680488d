import { z } from 'zod';
import { mapStatus } from './http-core.ts';
import {
  createHostedEmbedder,
  HostedCommonConfig,
  type HostedDeps,
  type HostedEmbedder,
  type ProviderAdapter,
} from './hosted.ts';
import { badShape, checkMatryoshka, unpackBits } from './vectors.ts';

// Cohere's v2 `POST /v2/embed`: `input_type` is required (search_document / search_query), at most 96 texts per
// request, and `embedding_types` picks float, int8, uint8, binary or ubinary. The answer is keyed by type:
// `{ embeddings: { float: [[...]] }, meta: { billed_units: { input_tokens } } }`. Packed binary types come back as
// dims/8 bytes per text and are unpacked to ±1 here, so every sink can store them.

const EmbeddingType = z.enum(['float', 'int8', 'uint8', 'binary', 'ubinary']);
type EmbeddingType = z.infer<typeof EmbeddingType>;

export const CohereConfig = HostedCommonConfig.extend({
  baseUrl: z.url().default('https://api.cohere.com'),
  apiKey: z.string().min(1),
  model: z.string().min(1),
  documentInputType: z.enum(['search_document', 'classification', 'clustering']).default('search_document'),
  queryInputType: z.enum(['search_query', 'classification', 'clustering']).default('search_query'),
  embeddingType: EmbeddingType.default('float'),
  /** NONE refuses over-long inputs (isolated as bad input); END/START cut them, as the Embedder contract allows. */
  truncate: z.enum(['NONE', 'START', 'END']).default('END'),
  maxInputs: z.number().int().positive().max(96).default(96),
});
export type CohereConfig = z.input<typeof CohereConfig>;

interface CohereResponse {
  embeddings?: Partial<Record<EmbeddingType, unknown>>;
  meta?: { billed_units?: { input_tokens?: number } };
}

export function createCohereEmbedder(config: CohereConfig, deps: HostedDeps = {}): HostedEmbedder {
  const cfg = CohereConfig.parse(config);
  // Only embed-v4-class models take `output_dimension`; the allowed list says which sizes (refused otherwise).
  const dims = checkMatryoshka(cfg.model, cfg.dims, cfg.dimensions, cfg.matryoshkaDims);
  const type = cfg.embeddingType;
  const packed = type === 'binary' || type === 'ubinary';
  if (packed && dims % 8 !== 0) throw badShape(`binary embeddings need dims divisible by 8, got ${dims}`);
  const url = `${cfg.baseUrl.replace(/\/+$/, '')}/v2/embed`;

  const adapter: ProviderAdapter = {
    provider: 'cohere',
    request: (texts, kind) => ({
      url,
      headers: { authorization: `Bearer ${cfg.apiKey}`, 'x-client-name': 'ragline' },
      body: {
        model: cfg.model,
        texts,
        input_type: kind === 'query' ? cfg.queryInputType : cfg.documentInputType,
        embedding_types: [type],
        truncate: cfg.truncate,
        ...(dims < cfg.dims ? { output_dimension: dims } : {}),
      },
    }),
    parse(body, count) {
      const b = body as CohereResponse;
      const rows = b?.embeddings?.[type];
      if (!Array.isArray(rows)) throw badShape(`no embeddings.${type} array`);
      if (rows.length !== count) throw badShape(`${rows.length} embeddings for ${count} inputs`);
      const vectors = rows.map((r) => {
        if (!Array.isArray(r) || !r.every((x) => typeof x === 'number')) throw badShape(`embeddings.${type} row is not numeric`);
        return packed ? unpackBits(r as number[], type === 'binary') : Float32Array.from(r as number[]);
      });
      const tokens = b.meta?.billed_units?.input_tokens;
      return typeof tokens === 'number' ? { vectors, tokens } : { vectors };
    },
    mapError: (status, body, hints) => mapStatus('cohere', status, body, hints),
  };
  return createHostedEmbedder(
    adapter,
    {
      identity: `cohere:${cfg.model}:${dims}:${type}:${cfg.documentInputType}/${cfg.queryInputType}:p1`,
      dims,
      // ±1 vectors all have the same norm, so a dot product ranks like Hamming distance and cosine alike.
      metric: packed ? 'dot' : 'cosine',
      maxTokens: cfg.maxTokens,
      maxInputs: cfg.maxInputs,
      maxTokensPerRequest: cfg.maxTokensPerRequest ?? cfg.maxInputs * cfg.maxTokens,
      config: cfg,
    },
    deps,
  );
}
