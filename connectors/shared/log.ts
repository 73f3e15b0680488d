import { pino, type DestinationStream, type Logger } from 'pino';
import { knownSecretValues, rememberSecret } from './secret.ts';

// One logger per process: JSON lines on stderr (stdout stays the CLI's output), configured once at the edge
// (`configureLogging`), used everywhere else through `log()`. What may never appear in a line: document or chunk
// text, vectors, secrets. Keys that carry secrets are censored by name (pino's redact); secret values the process read
// (`resolveSecret`, secret-looking environment variables) are censored wherever they appear in a line, even inside an
// error message; error messages are cut short, since a library's message may quote the input it choked on.

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const CENSOR = '[REDACTED]';

/** Keys whose values are secrets wherever they sit in a record (matched exactly, at any of the first four levels). */
export const SECRET_KEYS = [
  'apiKey',
  'api_key',
  'apikey',
  'password',
  'passwd',
  'secret',
  'token',
  'accessToken',
  'refreshToken',
  'authorization',
  'Authorization',
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
  'credentials',
  'privateKey',
  'clientKey',
  'keys',
  'cookie',
  'sasl',
  'clientCertPair',
  // A worker's options (logged by the SDK at debug) hold the payload codec and with it the encryption keys.
  'dataConverter',
  'loadedDataConverter',
  'payloadCodecs',
] as const;

/** pino redact paths for SECRET_KEYS at depth 0..3 (`key`, `*.key`, ...), and request headers. */
export function redactPaths(keys: readonly string[] = SECRET_KEYS): string[] {
  const paths: string[] = [];
  for (const k of keys) for (let depth = 0; depth < 4; depth++) paths.push(`${'*.'.repeat(depth)}${k}`);
  paths.push('headers["x-api-key"]', '*.headers["x-api-key"]', 'headers["api-key"]', '*.headers["api-key"]');
  return paths;
}

/** Longest error message (and cause message) written to a log line, in characters. */
export const MAX_MESSAGE_CHARS = 300;

/**
 * A message fit for a log line: control characters and line breaks become spaces, runs of spaces collapse, and
 * anything past `max` characters is dropped (with a count of what was dropped).
 */
export function boundedMessage(text: unknown, max = MAX_MESSAGE_CHARS): string {
  const flat = String(text)
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this removes
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return flat.length <= max ? flat : `${flat.slice(0, max)}... (${flat.length - max} more characters)`;
}

/** Stack frames only: the first line of a stack repeats the message, which may quote input. */
function frames(stack: string | undefined): string | undefined {
  if (!stack) return undefined;
  const at = stack
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .slice(0, 12)
    .map((l) => l.trim());
  return at.length ? at.join('\n') : undefined;
}

/** An error as a log field: its name, failure type, bounded message, stack frames and (bounded) causes. */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: boundedMessage(err) };
  const e = err as Error & { type?: unknown; code?: unknown; retryable?: unknown; nonRetryable?: unknown };
  const out: Record<string, unknown> = { name: e.name, message: boundedMessage(e.message) };
  if (typeof e.type === 'string') out.type = e.type;
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  if (typeof e.nonRetryable === 'boolean') out.nonRetryable = e.nonRetryable;
  const stack = frames(e.stack);
  if (stack) out.stack = stack;
  if (e.cause !== undefined && depth < 3) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

/** Replaces every known secret value in a serialized line (raw, and as JSON escapes it). */
export function scrubSecrets(line: string, secrets: Iterable<string> = knownSecretValues()): string {
  let out = line;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join(CENSOR);
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s && out.includes(escaped)) out = out.split(escaped).join(CENSOR);
  }
  return out;
}

/** Environment variables whose values are secrets, by name (an access key's id is a name, not a secret). */
const SECRET_ENV = /(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|CREDENTIAL|PRIVATE_KEY)/i;

/** Remembers the values of secret-looking environment variables, so no log line can carry them. */
export function rememberEnvSecrets(env: NodeJS.ProcessEnv): void {
  for (const [name, value] of Object.entries(env))
    if (value && SECRET_ENV.test(name) && !/_ID$/i.test(name)) rememberSecret(value);
}

export interface LoggerOptions {
  level: LogLevel;
  /** The process's role, on every line (`ragline-worker-ingest`, `ragline-cli`...). */
  service?: string;
  /** Where lines go. Default: stderr. Every line passes `scrubSecrets` first. */
  destination?: DestinationStream;
}

/** A JSON-lines logger with the redaction, error serializers and secret scrubbing described above. */
export function createLogger(opts: LoggerOptions): Logger {
  const target = opts.destination ?? { write: (s: string) => void process.stderr.write(s) };
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid, ...(opts.service ? { service: opts.service } : {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths(), censor: CENSOR },
      serializers: { err: serializeError, error: serializeError },
    },
    { write: (line: string) => target.write(scrubSecrets(line)) },
  );
}

let current: Logger | undefined;

/** Sets the process's logger (the CLI and workers call this once, at start). */
export function configureLogging(opts: LoggerOptions): Logger {
  current = createLogger(opts);
  return current;
}

/** The process's logger; until `configureLogging` runs, one at `info` on stderr. */
export function log(): Logger {
  return (current ??= createLogger({ level: 'info' }));
}

/**
 * A level given as a flag (`--log-level`), else RAGLINE_LOG_LEVEL, else `fallback`; case-insensitive. An unknown
 * level is refused with the list of levels.
 */
export function logLevelOf(flag: string | undefined, env: NodeJS.ProcessEnv, fallback: LogLevel): LogLevel {
  const given = flag ?? env.RAGLINE_LOG_LEVEL;
  if (given === undefined || given === '') return fallback;
  const level = given.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new LogLevelError(`log level '${given}' is not one of ${LOG_LEVELS.join(', ')}`);
  return level as LogLevel;
}

export class LogLevelError extends Error {
  override name = 'LogLevelError';
}
