import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from 'tokenizers';
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

// Text Embeddings Inference's native route, `POST /embed` (our GPU servers speak it too). Its errors are
// `{ error, error_type }` with a status per type: Validation 413 (a batch above --max-client-batch-size, or an input
// above max_input_length when not truncating), Tokenizer 422, Empty 400, Overloaded 429 (the queue is full; no
// Retry-After), Unhealthy 503, Backend 424.

export const TeiConfig = HostedCommonConfig.extend({
  /** The server root, e.g. `http://gpu-1:8080`. */
  baseUrl: z.url(),
  /** Sent as a bearer token when the server runs with --api-key. */
  apiKey: z.string().min(1).optional(),
  /** Names the model in the identity (TEI serves one model per server). */
  model: z.string().min(1),
  /** Let the server cut inputs above its max_input_length instead of refusing them (the Embedder contract). */
  truncate: z.boolean().default(true),
  normalize: z.boolean().default(true),
  /** The server's --max-client-batch-size. */
  maxInputs: z.number().int().positive().default(32),
  /**
   * The model's tokenizer.json (or the folder holding it). Set, the worker tokenizes and sends token ids (TEI takes
   * them as inputs; special tokens added here, inputs cut at maxTokens when `truncate`), so the server's CPUs are left
   * to batch and feed the model. The vectors are the same, and so is the identity (one embedding cache).
   */
  tokenizer: z.string().min(1).optional(),
});
export type TeiConfig = z.input<typeof TeiConfig>;

function mapTeiError(status: number, body: unknown, hints: RateHints): MappedFailure {
  const type = (body as { error_type?: unknown })?.error_type;
  if (type === 'Backend') {
    return { action: 'fail', error: new ConnectorError(FailureType.Unavailable, `tei backend error: ${errorMessage(body)}`) };
  }
  return mapStatus('tei', status, body, hints);
}

/**
 * Text -> token ids as the server's own tokenizer makes them: the model's special tokens added, and (when `maxTokens`
 * is given) inputs cut to it with the special tokens kept, as TEI truncates; no padding.
 */
export function loadWireTokenizer(path: string, maxTokens: number | undefined): (texts: string[]) => Promise<number[][]> {
  let file = path;
  let tokenizer: Tokenizer;
  try {
    if (statSync(path).isDirectory()) file = join(path, 'tokenizer.json');
    tokenizer = Tokenizer.fromFile(file);
  } catch (err) {
    throw new ConnectorError(FailureType.InvalidInput, `tei tokenizer: cannot load ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // tokenizer.json files often carry training-time settings (all-MiniLM's pads every input to 128).
  if (maxTokens === undefined) tokenizer.disableTruncation();
  else tokenizer.setTruncation(maxTokens);
  tokenizer.disablePadding();
  return async (texts) => (await tokenizer.encodeBatch(texts)).map((e) => e.getIds());
}

export function createTeiEmbedder(config: TeiConfig, deps: HostedDeps = {}): HostedEmbedder {
  const cfg = TeiConfig.parse(config);
  const toIds = cfg.tokenizer ? loadWireTokenizer(cfg.tokenizer, cfg.truncate ? cfg.maxTokens : undefined) : undefined;
  const dims = checkMatryoshka(cfg.model, cfg.dims, cfg.dimensions, cfg.matryoshkaDims);
  const url = `${cfg.baseUrl.replace(/\/+$/, '')}/embed`;
  const headers: Record<string, string> = cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : {};
  const adapter: ProviderAdapter = {
    provider: 'tei',
    request: async (texts) => ({
      url,
      headers,
      body: {
        inputs: toIds ? await toIds(texts) : texts,
        normalize: cfg.normalize,
        truncate: cfg.truncate,
        truncation_direction: 'Right',
      },
    }),
    parse(body, count) {
      if (!Array.isArray(body)) throw badShape('tei /embed answers a JSON array of vectors');
      if (body.length !== count) throw badShape(`${body.length} embeddings for ${count} inputs`);
      return { vectors: body.map((v) => decodeFloatEmbedding(v)) };
    },
    mapError: mapTeiError,
  };
  return createHostedEmbedder(
    adapter,
    {
      identity: `tei:${cfg.model}:${dims}:${cfg.normalize ? 'n' : 'u'}:p1`,
      dims,
      ...(dims < cfg.dims ? { clientTruncateFrom: cfg.dims } : {}),
      maxTokens: cfg.maxTokens,
      maxInputs: cfg.maxInputs,
      maxTokensPerRequest: cfg.maxTokensPerRequest ?? cfg.maxInputs * cfg.maxTokens,
      config: cfg,
    },
    deps,
  );
}
