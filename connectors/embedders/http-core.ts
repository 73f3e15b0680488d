import { ConnectorError, FailureType } from '../shared/errors.ts';

// The HTTP layer every hosted embedder shares. Plain fetch rather than the vendors' SDKs: `openai` and `cohere-ai` are
// not dependencies, each API here is one POST, and the SDKs retry on their own (stacked under Temporal's retries and
// our budget that would multiply requests exactly when a service is overloaded). Owning the call also gives one place
// that reads the rate-limit headers every provider sends in a slightly different dialect.

/** What a response says about the server's rate limits; every field optional. */
export interface RateHints {
  /** From `retry-after-ms` or `Retry-After` (seconds or an HTTP date). */
  retryAfterMs?: number;
  remainingRequests?: number;
  resetRequestsMs?: number;
  remainingTokens?: number;
  resetTokensMs?: number;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: unknown;
}

/**
 * What the caller does with a failed response. `wait`: a rate limit or overload (429/503), waited out inside the
 * call up to a bound; `bisect`: the request was rejected because of its content, so halve the batch to find the
 * input at fault; `split`: the batch was too big for the server (413), halve it without blaming any input; `fail`:
 * throw as is (auth, missing model, server errors: Temporal retries the retryable ones).
 */
export type FailureAction = 'wait' | 'bisect' | 'split' | 'fail';

export interface MappedFailure {
  action: FailureAction;
  error: ConnectorError;
}

/** `6m0s`, `1.5s`, `20ms`, `1h2m3s` (OpenAI's reset headers) or a bare number of seconds. */
export function parseDuration(value: string | null | undefined): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of v.matchAll(re)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed += m[0].length;
  }
  return consumed === v.length ? Math.round(total) : undefined;
}

/** Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function intHeader(headers: Headers, name: string): number | undefined {
  const v = headers.get(name);
  if (v == null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** Reads OpenAI-style `x-ratelimit-*` headers (also sent by Azure, vLLM gateways, mixedbread) and Retry-After. */
export function readRateHints(headers: Headers, now = Date.now()): RateHints {
  const hints: RateHints = {};
  const ms = headers.get('retry-after-ms');
  const retryAfter =
    ms != null && /^\d+(\.\d+)?$/.test(ms.trim()) ? Math.round(Number(ms)) : parseRetryAfter(headers.get('retry-after'), now);
  if (retryAfter !== undefined) hints.retryAfterMs = retryAfter;
  const rr = intHeader(headers, 'x-ratelimit-remaining-requests');
  if (rr !== undefined) hints.remainingRequests = rr;
  const rt = intHeader(headers, 'x-ratelimit-remaining-tokens');
  if (rt !== undefined) hints.remainingTokens = rt;
  const resetR = parseDuration(headers.get('x-ratelimit-reset-requests'));
  if (resetR !== undefined) hints.resetRequestsMs = resetR;
  const resetT = parseDuration(headers.get('x-ratelimit-reset-tokens'));
  if (resetT !== undefined) hints.resetTokensMs = resetT;
  return hints;
}

/** The human message of an error body, whatever the vendor's shape: `{error:{message}}`, `{error}`, `{message}`, `{detail}`. */
export function errorMessage(body: unknown): string {
  if (typeof body === 'string') return body.slice(0, 500);
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const e = b.error;
    if (e && typeof e === 'object' && typeof (e as Record<string, unknown>).message === 'string')
      return (e as { message: string }).message;
    if (typeof e === 'string') return e;
    if (typeof b.message === 'string') return b.message;
    if (typeof b.detail === 'string') return b.detail;
    if (Array.isArray(b.detail)) return JSON.stringify(b.detail).slice(0, 500);
  }
  return JSON.stringify(body)?.slice(0, 500) ?? 'no body';
}

/**
 * The status table most embedding APIs follow; a provider maps its exceptions first and falls back to this.
 * Auth and missing-model errors are retryable `Unavailable`: they are the operator's to fix, and a document must
 * not be recorded as bad input because a key expired.
 */
export function mapStatus(provider: string, status: number, body: unknown, hints: RateHints): MappedFailure {
  const msg = `${provider} ${status}: ${errorMessage(body)}`;
  const retryAfterMs = hints.retryAfterMs;
  if (status === 429) return { action: 'wait', error: new ConnectorError(FailureType.RateLimited, msg, { retryAfterMs }) };
  if (status === 503) return { action: 'wait', error: new ConnectorError(FailureType.Unavailable, msg, { retryAfterMs }) };
  if (status === 413) return { action: 'split', error: new ConnectorError(FailureType.InvalidInput, msg) };
  if (status === 400 || status === 422) return { action: 'bisect', error: new ConnectorError(FailureType.InvalidInput, msg) };
  return { action: 'fail', error: new ConnectorError(FailureType.Unavailable, msg) };
}

export interface PostOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  /** The caller's: once aborted, the request is abandoned and the POST rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * One POST with a JSON body and a hard timeout; network failures and timeouts become retryable `Unavailable`. An
 * abort by the caller's signal rejects with its reason as given (a Temporal CancelledFailure stays one).
 */
export async function postJson(url: string, body: unknown, opts: PostOptions): Promise<HttpResult> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...opts.headers },
      body: JSON.stringify(body),
      signal,
    });
    text = await res.text();
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const what = timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : (err as Error).message;
    throw new ConnectorError(FailureType.Unavailable, `POST ${redact(url)} failed: ${what}`, { cause: err });
  }
  let parsed: unknown = text;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's HTML error page): keep the text for the error message.
    }
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '<bad url>';
  }
}

/** Exponential backoff with full jitter, for waits the server gave no Retry-After for. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000): number {
  return Math.round(Math.random() * Math.min(capMs, baseMs * 2 ** attempt));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
