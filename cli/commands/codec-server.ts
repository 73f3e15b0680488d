import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { CliContext } from '../context.ts';

/** A payload as the codec-server protocol writes it: protobuf JSON, so every bytes field is base64. */
interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Bearer tokens a request may carry (any one admits it). Empty: every request is admitted. */
  tokens: string[];
  /** Origins allowed to call from a browser (the Temporal UI's), e.g. `http://127.0.0.1:8233`. */
  corsOrigins: string[];
  /** Largest request body. Default 4 MiB (Temporal caps a payload at 2 MB). */
  maxBodyBytes?: number;
}

export interface RunningCodecServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Temporal's remote codec protocol: POST `.../encode` and `.../decode` with `{ payloads: [...] }` in protobuf JSON,
 * answered in the same shape; only the last path segment picks the operation, so the server can sit under any
 * prefix. The UI calls it from the operator's browser, hence CORS and the OPTIONS preflight.
 */
export function createCodecServer(opts: CodecServerOptions): Server {
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  // Tokens compare as hashes: equal lengths for timingSafeEqual, and nothing about a token leaks through timing.
  const digests = opts.tokens.map(sha256);
  const admitted = (req: IncomingMessage): boolean => {
    if (digests.length === 0) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const got = sha256(m[1]!.trim());
    return digests.some((d) => timingSafeEqual(d, got));
  };

  return createServer((req, res) => {
    const origin = req.headers.origin;
    if (origin && opts.corsOrigins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 400;
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const op = new URL(req.url ?? '/', 'http://x').pathname.split('/').filter(Boolean).at(-1);
    if (req.method !== 'POST' || (op !== 'encode' && op !== 'decode')) {
      throw new HttpError(404, 'POST .../encode or .../decode');
    }
    if (!admitted(req)) throw new HttpError(401, 'a valid bearer token is required');
    const body = await readBody(req, maxBody);
    let parsed: { payloads?: unknown };
    try {
      parsed = JSON.parse(body) as { payloads?: unknown };
    } catch {
      throw new HttpError(400, 'the body is not JSON');
    }
    if (!Array.isArray(parsed.payloads)) throw new HttpError(400, 'expected { "payloads": [...] }');
    const payloads = (parsed.payloads as JsonPayload[]).map(fromJson);
    const out = op === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ payloads: out.map(toJson) }));
  }
}

/** Starts a codec server on `host:port` (port 0: any free port). */
export async function startCodecServer(opts: CodecServerOptions & { host?: string; port: number }): Promise<RunningCodecServer> {
  const server = createCodecServer(opts);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => ok());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    server,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

export interface CodecServerCommandOptions {
  port: number;
  host: string;
  /** Environment variable holding the bearer token(s). */
  tokenEnv?: string;
  /** File holding the bearer token(s), one a line. */
  tokenFile?: string;
  /** Accept requests without a token (a local UI without login only). */
  insecureNoAuth?: boolean;
  corsOrigin: string[];
}

/** `ingest codec-server`: decodes payloads for the Temporal UI and CLI with the spec's key ring, until SIGINT/SIGTERM. */
export async function codecServerCommand(ctx: CliContext, opts: CodecServerCommandOptions, env = process.env): Promise<void> {
  const codec = ctx.temporal.codec;
  if (!codec) throw new CodecServerConfigError('the pipeline spec has no temporal.encryption block: nothing to decode');
  const tokens = readTokens(opts, env);
  const origins = opts.corsOrigin.length > 0 ? opts.corsOrigin : [`http://127.0.0.1:${ctx.stack.ports.temporalUi}`];
  const running = await startCodecServer({ codec, tokens, corsOrigins: origins, host: opts.host, port: opts.port });
  console.error(
    `codec server on ${running.url} (${tokens.length > 0 ? 'bearer token required' : 'NO authorisation'}; browsers from ${origins.join(', ')})`,
  );
  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running.close();
}

/** The codec server's flags ask for something impossible (no key ring, no token source, an empty token). */
export class CodecServerConfigError extends Error {
  override name = 'CodecServerConfigError';
}

function readTokens(opts: CodecServerCommandOptions, env: NodeJS.ProcessEnv): string[] {
  const sources = [opts.tokenEnv, opts.tokenFile, opts.insecureNoAuth].filter(Boolean).length;
  if (sources !== 1) {
    throw new CodecServerConfigError('give exactly one of --token-env NAME, --token-file PATH and --insecure-no-auth');
  }
  if (opts.insecureNoAuth) return [];
  const text = opts.tokenEnv ? env[opts.tokenEnv] : readFileSync(opts.tokenFile!, 'utf8');
  const tokens = (text ?? '')
    .split('\n')
    .map((t) => t.trim())
    .filter(Boolean);
  if (tokens.length === 0) {
    throw new CodecServerConfigError(`no token in ${opts.tokenEnv ? `environment variable ${opts.tokenEnv}` : opts.tokenFile}`);
  }
  return tokens;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Past the limit the rest is read and dropped, so the 413 still reaches the caller.
      if (size > max) fail(new HttpError(413, `the body exceeds ${max} bytes`));
      else chunks.push(c);
    });
    req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

function fromJson(p: JsonPayload): Payload {
  if (typeof p !== 'object' || p === null) throw new HttpError(400, 'a payload is not an object');
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}
