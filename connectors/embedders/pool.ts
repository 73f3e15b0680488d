import type { z } from 'zod';
import type { HostedDeps, HostedEmbedder } from './hosted.ts';
import { createTeiEmbedder, TeiConfig } from './tei.ts';

// The GPU pool: one TEI-compatible embedding server per GPU host (embed-server/, or TEI itself) with one embed worker
// beside it. The spec names only the model; each embed worker talks to the server next to it, given at the worker's
// start (`ingest worker --role embed --embed-server URL`, RAGLINE_EMBED_SERVER). Requests go through the TEI embedder
// (`POST /embed`); what this file adds is the server's address kept out of the spec and of the embedder's identity,
// and the checks a worker runs against its server before it polls.

/**
 * Where an embed worker finds its server when neither the flag nor the environment says: embed-server/'s default port,
 * which is also TEI's outside its container, and free in the local stack (8080 there is Weaviate's).
 */
export const DEFAULT_EMBED_SERVER = 'http://127.0.0.1:3000';

/** The pool's spec: the TEI embedder's settings without the server's address (and with the same defaults). */
export const PoolConfig = TeiConfig.omit({ baseUrl: true });
export type PoolConfig = z.input<typeof PoolConfig>;

/**
 * The TEI embedder aimed at `server`. Its identity is the TEI embedder's (model, dims, normalisation, prompt format),
 * which names no address: every server of the pool that serves the same model shares one embedding cache.
 */
export function createPoolEmbedder(config: PoolConfig, server: string, deps: HostedDeps = {}): HostedEmbedder {
  return createTeiEmbedder({ ...PoolConfig.parse(config), baseUrl: server }, deps);
}

/** The subset of a TEI `GET /info` answer the pool reads (our server adds `hidden_size`). */
export interface PoolServerInfo {
  model_id: string;
  max_client_batch_size?: number;
  max_concurrent_requests?: number;
  max_batch_tokens?: number;
  hidden_size?: number;
}

/** A server of the pool that does not serve the spec's model: the worker must not poll for it. */
export class EmbedServerMismatchError extends Error {
  override name = 'EmbedServerMismatchError';
}

/** The worker's server did not answer `/info` (down, or not a TEI-compatible server). */
export class EmbedServerUnreachableError extends Error {
  override name = 'EmbedServerUnreachableError';
}

/** Reads the server's `/info`; rejects with EmbedServerUnreachableError when it cannot. */
export async function readPoolServerInfo(server: string, timeoutMs = 5000): Promise<PoolServerInfo> {
  const url = `${server.replace(/\/+$/, '')}/info`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new EmbedServerUnreachableError(`embed server ${server}: GET /info failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const body = (await res.json().catch(() => undefined)) as Partial<PoolServerInfo> | undefined;
  if (!res.ok || typeof body?.model_id !== 'string') {
    throw new EmbedServerUnreachableError(`embed server ${server}: GET /info answered ${res.status} without a model_id`);
  }
  return body as PoolServerInfo;
}

/** Throws EmbedServerMismatchError unless the server serves the spec's model (and, when it says, at the spec's dims). */
export function checkPoolServer(info: PoolServerInfo, spec: { model: string; dims: number }, server: string): void {
  if (info.model_id !== spec.model) {
    throw new EmbedServerMismatchError(
      `embed server ${server} serves ${info.model_id}, but the pipeline embeds with ${spec.model}: not polling`,
    );
  }
  if (info.hidden_size !== undefined && info.hidden_size !== spec.dims) {
    throw new EmbedServerMismatchError(
      `embed server ${server} returns ${info.hidden_size} dims, but the pipeline's embedder says ${spec.dims}: not polling`,
    );
  }
}

/** One `GET /health`: true on 200 within `timeoutMs`. */
export async function probePoolServer(server: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`${server.replace(/\/+$/, '')}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * Embed activities one worker runs at once when no flag says: enough to keep half the server's queue
 * (`max_concurrent_requests`, inputs) filled with requests of `maxInputs` texts, `concurrency` per activity, so the
 * server's batcher always has inputs to pack and the queue still has room before it answers 429. Between 1 and 64;
 * 16 when the server does not say (TEI without our fields, or an odd answer).
 */
export function poolActivitySlots(info: PoolServerInfo, spec: { maxInputs: number; concurrency: number }): number {
  const queue = info.max_concurrent_requests;
  if (!queue || queue <= 0) return 16;
  const perActivity = Math.max(1, Math.min(spec.maxInputs, info.max_client_batch_size ?? spec.maxInputs)) * spec.concurrency;
  return Math.max(1, Math.min(64, Math.floor(queue / 2 / perActivity)));
}
