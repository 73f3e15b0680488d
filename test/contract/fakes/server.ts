import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

// The harness the hosted-API fakes share: one POST route, bearer auth, a sliding-window rate limiter that answers
// 429 with Retry-After (and OpenAI's x-ratelimit-* headers), a concurrency cap, injected faults, and a log of every
// request that arrived, so a test can prove from the server's side how many requests any window saw.

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Fault {
  status: number;
  body?: unknown;
  /** Retry-After in seconds, as sent. */
  retryAfter?: string;
}

export interface RateLimit {
  requests: number;
  windowMs: number;
}

export interface FakeOptions {
  /** Requests must carry `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  rateLimit?: RateLimit;
  /** Requests in flight beyond this are refused with `overload`. */
  maxConcurrent?: number;
  overload?: Reply;
  /** Added to each served request, so concurrency and in-flight budget entries are real. */
  latencyMs?: number;
}

export interface LogEntry {
  /** Epoch ms the request arrived (before any rejection). */
  at: number;
  path: string;
  status: number;
  body: unknown;
}

export interface FakeServer {
  url: string;
  log: LogEntry[];
  failNext(count: number, fault: Fault): void;
  /** Most requests that arrived within any `windowMs` span (half-open, as the limiter counts). */
  maxArrivalsInWindow(windowMs: number): number;
  statusCounts(): Record<number, number>;
  close(): Promise<void>;
}

export type Handler = (body: unknown, path: string) => Reply;

/** The shared unauthorised reply shape differs per vendor; each fake passes its own. */
export async function startFake(
  routes: Record<string, Handler>,
  unauthorised: Reply,
  opts: FakeOptions = {},
): Promise<FakeServer> {
  const log: LogEntry[] = [];
  const faults: Fault[] = [];
  const accepted: number[] = [];
  let inFlight = 0;

  function limiterHeaders(now: number): { limited: boolean; headers: Record<string, string> } {
    const rl = opts.rateLimit;
    if (!rl) return { limited: false, headers: {} };
    while (accepted.length > 0 && accepted[0]! <= now - rl.windowMs) accepted.shift();
    const limited = accepted.length >= rl.requests;
    const resetMs = accepted.length > 0 ? accepted[0]! + rl.windowMs - now : 0;
    const remaining = Math.max(0, rl.requests - accepted.length - (limited ? 0 : 1));
    const headers: Record<string, string> = {
      'x-ratelimit-limit-requests': String(rl.requests),
      'x-ratelimit-remaining-requests': String(remaining),
      'x-ratelimit-reset-requests': `${(resetMs / 1000).toFixed(3)}s`,
    };
    if (limited) {
      headers['retry-after'] = String(Math.max(1, Math.ceil(resetMs / 1000)));
      headers['retry-after-ms'] = String(Math.max(1, resetMs));
    }
    return { limited, headers };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: unknown;
    const send = (r: Reply): void => {
      log.push({ at, path, status: r.status, body });
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(JSON.stringify(r.body));
    };
    const route = req.method === 'POST' ? routes[path] : undefined;
    if (!route) return send({ status: 404, body: { error: `no route ${req.method} ${path}` } });
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) return send(unauthorised);
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send({ status: 400, body: { error: 'body is not JSON' } });
    }
    const fault = faults.shift();
    if (fault) {
      const headers: Record<string, string> = fault.retryAfter ? { 'retry-after': fault.retryAfter } : {};
      return send({ status: fault.status, body: fault.body ?? { error: `injected ${fault.status}` }, headers });
    }
    const { limited, headers } = limiterHeaders(at);
    if (limited) return send({ status: 429, body: { error: { message: 'Rate limit reached', type: 'requests' } }, headers });
    if (opts.maxConcurrent !== undefined && inFlight >= opts.maxConcurrent) {
      return send(opts.overload ?? { status: 429, body: { error: 'overloaded' } });
    }
    if (opts.rateLimit) accepted.push(at);
    inFlight++;
    try {
      if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
      const reply = route(body, path);
      send({ ...reply, headers: { ...headers, ...reply.headers } });
    } finally {
      inFlight--;
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    failNext(count, fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    maxArrivalsInWindow(windowMs) {
      const times = log.map((e) => e.at).sort((a, b) => a - b);
      let best = 0;
      let lo = 0;
      for (let hi = 0; hi < times.length; hi++) {
        while (times[lo]! <= times[hi]! - windowMs) lo++;
        best = Math.max(best, hi - lo + 1);
      }
      return best;
    },
    statusCounts() {
      const out: Record<number, number> = {};
      for (const e of log) out[e.status] = (out[e.status] ?? 0) + 1;
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The fakes' tokenizer: words and punctuation marks, one token each (a stand-in for the vendors' BPE counts). */
export function fakeTokens(text: string): number {
  return text.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu)?.length ?? 0;
}

/**
 * Deterministic, dense unit vectors: the sum of one pseudo-random ±1 direction per word (seeded by the word's hash),
 * so texts sharing words land near each other, as with a real model, and signs stay meaningful for binary types.
 */
export function fakeVector(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? ['<empty>'];
  for (const w of words) {
    let seed = createHash('sha1').update(w).digest().readUInt32LE(0);
    for (let i = 0; i < dims; i++) {
      // mulberry32
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      v[i]! += ((t ^ (t >>> 14)) >>> 0) & 1 ? 1 : -1;
    }
  }
  return cut(v, dims);
}

/** Cuts to `dims` and rescales to unit length, as Matryoshka servers do. */
export function cut(v: Float32Array, dims: number): Float32Array {
  const out = v.slice(0, dims);
  let n = 0;
  for (const x of out) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < dims; i++) out[i]! /= n;
  return out;
}
