import { z } from 'zod';
import { mapStatus } from './http-core.ts';
import {
  createHostedEmbedder,
  HostedCommonConfig,
  type HostedDeps,
  type HostedEmbedder,
  type ProviderAdapter,
} from './hosted.ts';
import { parseOpenAIEmbeddings } from './openai-compatible.ts';
import { checkMatryoshka } from './vectors.ts';

// Jina's `POST /v1/embeddings`: OpenAI's shape plus `task` (retrieval.passage / retrieval.query for v3 and v4),
// server-side Matryoshka `dimensions`, and `late_chunking`. With late chunking the service concatenates one request's
// inputs, runs the model once over them and pools each input's span, so one request must hold one document's chunks
// in order and fit the model's window: requests are then packed to `lateChunkingWindow` tokens, one after another,
// and a document longer than that is embedded as consecutive windows (context does not cross a window edge).
// Do not put this embedder behind the cross-activity micro-batcher with late chunking on: it would mix documents.

export const JinaConfig = HostedCommonConfig.extend({
  baseUrl: z.url().default('https://api.jina.ai/v1'),
  apiKey: z.string().min(1),
  model: z.string().min(1),
  documentTask: z.string().min(1).optional().default('retrieval.passage'),
  queryTask: z.string().min(1).optional().default('retrieval.query'),
  /** Send no `task` (v2 models have none). */
  noTask: z.boolean().default(false),
  lateChunking: z.boolean().default(false),
  /** Tokens one late-chunking request may hold (the model's context). */
  lateChunkingWindow: z.number().int().positive().default(8192),
  /** Cut over-long inputs server-side instead of failing them. */
  truncate: z.boolean().default(true),
  maxInputs: z.number().int().positive().default(2048),
});
export type JinaConfig = z.input<typeof JinaConfig>;

export function createJinaEmbedder(config: JinaConfig, deps: HostedDeps = {}): HostedEmbedder {
  const cfg = JinaConfig.parse(config);
  const dims = checkMatryoshka(cfg.model, cfg.dims, cfg.dimensions, cfg.matryoshkaDims);
  const url = `${cfg.baseUrl.replace(/\/+$/, '')}/embeddings`;
  const adapter: ProviderAdapter = {
    provider: 'jina',
    request: (texts, kind) => ({
      url,
      headers: { authorization: `Bearer ${cfg.apiKey}` },
      body: {
        model: cfg.model,
        input: texts,
        ...(cfg.noTask ? {} : { task: kind === 'query' ? cfg.queryTask : cfg.documentTask }),
        ...(dims < cfg.dims ? { dimensions: dims } : {}),
        // A query is one input: late chunking would not change it.
        late_chunking: cfg.lateChunking && kind === 'document',
        embedding_type: 'float',
        normalized: true,
        truncate: cfg.truncate,
      },
    }),
    parse: parseOpenAIEmbeddings,
    mapError: (status, body, hints) => mapStatus('jina', status, body, hints),
  };
  const tasks = cfg.noTask ? 'notask' : `${cfg.documentTask}/${cfg.queryTask}`;
  return createHostedEmbedder(
    adapter,
    {
      identity: `jina:${cfg.model}:${dims}:${tasks}${cfg.lateChunking ? ':late' : ''}:p1`,
      dims,
      maxTokens: cfg.maxTokens,
      maxInputs: cfg.maxInputs,
      maxTokensPerRequest: cfg.lateChunking ? cfg.lateChunkingWindow : (cfg.maxTokensPerRequest ?? cfg.maxInputs * cfg.maxTokens),
      config: cfg.lateChunking ? { ...cfg, concurrency: 1 } : cfg,
    },
    deps,
  );
}
