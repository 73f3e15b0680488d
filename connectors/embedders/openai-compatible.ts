import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { errorMessage, type MappedFailure, mapStatus, type RateHints } from './http-core.ts';
import {
  createHostedEmbedder,
  HostedCommonConfig,
  type HostedDeps,
  type HostedEmbedder,
  type ProviderAdapter,
} from './hosted.ts';
import { badShape, checkMatryoshka, decodeFloatEmbedding } from './vectors.ts';

// `POST {baseUrl}/embeddings` in OpenAI's shape: OpenAI itself, vLLM, Infinity, TEI's /v1/embeddings, Volcengine Ark
// (Seed1.5-Embedding) and mixedbread. They differ in limits, in whether `dimensions` is honoured server-side, and in
// the host; the presets below hold those differences.

const Provider = z.enum(['openai', 'vllm', 'infinity', 'tei', 'ark', 'mixedbread', 'generic']);
type Provider = z.infer<typeof Provider>;

interface Preset {
  baseUrl?: string;
  maxInputs: number;
  maxTokensPerRequest?: number;
  encodingFormat: 'float' | 'base64';
  truncation: 'server' | 'client';
}

const PRESETS: Record<Provider, Preset> = {
  // 2,048 inputs, 300,000 tokens per request; base64 halves the response (what the Node SDK asks for).
  openai: {
    baseUrl: 'https://api.openai.com/v1',
    maxInputs: 2048,
    maxTokensPerRequest: 300_000,
    encodingFormat: 'base64',
    truncation: 'server',
  },
  // vLLM honours `dimensions` for Matryoshka models and rejects it for others.
  vllm: { maxInputs: 2048, encodingFormat: 'float', truncation: 'server' },
  infinity: { maxInputs: 256, encodingFormat: 'float', truncation: 'client' },
  // TEI refuses batches above --max-client-batch-size (32 by default) with 413.
  tei: { maxInputs: 32, encodingFormat: 'float', truncation: 'client' },
  // Seed1.5-Embedding returns 2,048 dims; 1,024/512/256 come from truncating and renormalising here.
  ark: { baseUrl: 'https://ark.cn-beijing.volces.com/api/v3', maxInputs: 256, encodingFormat: 'float', truncation: 'client' },
  mixedbread: { baseUrl: 'https://api.mixedbread.com/v1', maxInputs: 256, encodingFormat: 'float', truncation: 'server' },
  generic: { maxInputs: 256, encodingFormat: 'float', truncation: 'client' },
};

export const OpenAICompatibleConfig = HostedCommonConfig.extend({
  /** Which server speaks: picks the default host, limits, encoding and where Matryoshka truncation happens. */
  provider: Provider.default('generic'),
  /** Up to and including the version segment, e.g. `https://api.openai.com/v1`, `http://gpu-1:8080/v1`. */
  baseUrl: z.url().optional(),
  apiKey: z.string().min(1).optional(),
  model: z.string().min(1),
  encodingFormat: z.enum(['float', 'base64']).optional(),
  /** `server`: send `dimensions`; `client`: cut and renormalise the full vector here. */
  truncation: z.enum(['server', 'client']).optional(),
  /** Fields some servers add (mixedbread `prompt`/`normalized`, vLLM `truncate_prompt_tokens`). */
  extraBody: z.record(z.string(), z.unknown()).default({}),
});
export type OpenAICompatibleConfig = z.input<typeof OpenAICompatibleConfig>;

interface OpenAIResponse {
  data?: { index?: number; embedding?: unknown }[];
  usage?: { prompt_tokens?: number; total_tokens?: number };
}

/** Parses `{ data: [{ index, embedding }], usage }`, in index order (servers may answer out of order). */
export function parseOpenAIEmbeddings(body: unknown, count: number): { vectors: Float32Array[]; tokens?: number } {
  const b = body as OpenAIResponse;
  if (!b || !Array.isArray(b.data)) throw badShape('no `data` array');
  if (b.data.length !== count) throw badShape(`${b.data.length} embeddings for ${count} inputs`);
  const vectors: Float32Array[] = new Array(count);
  b.data.forEach((d, k) => {
    const i = typeof d.index === 'number' ? d.index : k;
    if (i < 0 || i >= count || vectors[i]) throw badShape(`bad or repeated index ${i}`);
    vectors[i] = decodeFloatEmbedding(d.embedding);
  });
  const tokens = b.usage?.prompt_tokens ?? b.usage?.total_tokens;
  return typeof tokens === 'number' ? { vectors, tokens } : { vectors };
}

function mapOpenAIError(provider: string, status: number, body: unknown, hints: RateHints): MappedFailure {
  const code = (body as { error?: { code?: unknown; type?: unknown } })?.error?.code;
  if (
    status === 429 &&
    (code === 'insufficient_quota' || (body as { error?: { type?: unknown } })?.error?.type === 'insufficient_quota')
  ) {
    // Out of credit is no rate limit: waiting will not help, an operator must. Retryable so no document fails for it.
    return {
      action: 'fail',
      error: new ConnectorError(FailureType.Unavailable, `${provider} quota exhausted: ${errorMessage(body)}`),
    };
  }
  return mapStatus(provider, status, body, hints);
}

export function createOpenAICompatibleEmbedder(config: OpenAICompatibleConfig, deps: HostedDeps = {}): HostedEmbedder {
  const cfg = OpenAICompatibleConfig.parse(config);
  const preset = PRESETS[cfg.provider];
  const baseUrl = (cfg.baseUrl ?? preset.baseUrl)?.replace(/\/+$/, '');
  if (!baseUrl) throw new ConnectorError(FailureType.InvalidInput, `${cfg.provider} embedder needs a baseUrl`);
  if (!cfg.apiKey && preset.baseUrl)
    throw new ConnectorError(FailureType.InvalidInput, `${cfg.provider} embedder needs an apiKey`);
  const dims = checkMatryoshka(cfg.model, cfg.dims, cfg.dimensions, cfg.matryoshkaDims);
  const truncation = cfg.truncation ?? preset.truncation;
  const serverDims = truncation === 'server' && dims < cfg.dims ? dims : undefined;
  const encoding = cfg.encodingFormat ?? preset.encodingFormat;
  const maxInputs = cfg.maxInputs ?? preset.maxInputs;
  const headers: Record<string, string> = cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : {};

  const adapter: ProviderAdapter = {
    provider: cfg.provider,
    request: (texts) => ({
      url: `${baseUrl}/embeddings`,
      headers,
      body: {
        ...cfg.extraBody,
        model: cfg.model,
        input: texts,
        encoding_format: encoding,
        ...(serverDims !== undefined ? { dimensions: serverDims } : {}),
      },
    }),
    parse: parseOpenAIEmbeddings,
    mapError: (status, body, hints) => mapOpenAIError(cfg.provider, status, body, hints),
  };
  return createHostedEmbedder(
    adapter,
    {
      identity: `${cfg.provider}:${cfg.model}:${dims}:p1`,
      dims,
      ...(truncation === 'client' && dims < cfg.dims ? { clientTruncateFrom: cfg.dims } : {}),
      maxTokens: cfg.maxTokens,
      maxInputs,
      maxTokensPerRequest: cfg.maxTokensPerRequest ?? preset.maxTokensPerRequest ?? maxInputs * cfg.maxTokens,
      config: cfg,
    },
    deps,
  );
}
