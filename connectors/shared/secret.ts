import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConnectorError, FailureType } from './errors.ts';

// Secrets are named in a pipeline spec, never written into it: `{ env: NAME }` or `{ file: path }`. The worker (or CLI,
// or trigger) reads them when it builds the connector, so a value never reaches a workflow input, the spec's
// fingerprint or a log line, and a rotated key only needs the process restarted.

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A secret read from an environment variable or a file (a relative path is read from the spec's folder). */
export const SecretRef = z.union(
  [
    z.strictObject({ env: z.string().regex(ENV_NAME, 'an environment variable name') }),
    z.strictObject({ file: z.string().min(1) }),
  ],
  { error: 'a secret is { env: NAME } or { file: path }' },
);
export type SecretRef = z.infer<typeof SecretRef>;

/** Where an inline value was accepted before secret references existed: a string, or a reference. */
export const SecretInput = z.union([z.string().min(1), SecretRef], {
  error: 'a secret is { env: NAME }, { file: path } or (discouraged) the value itself',
});
export type SecretInput = z.infer<typeof SecretInput>;

/** Where secrets are read from: the process environment and the folder relative files are read from. */
export interface SecretSource {
  env: NodeJS.ProcessEnv;
  /** Relative `file` references resolve against it. Default: the current folder. */
  baseDir?: string;
}

/** A secret that cannot be read. The message names the variable or file, never a value. */
export class SecretError extends ConnectorError {
  override name = 'SecretError';
  /** What the secret is for, e.g. `sink weaviate apiKey`. */
  readonly what: string;
  /** The variable or file, e.g. `environment variable WEAVIATE_API_KEY`. */
  readonly where: string;

  constructor(what: string, where: string, problem: string, opts: { cause?: unknown } = {}) {
    super(FailureType.InvalidInput, `${what}: ${where} ${problem}`, opts);
    this.what = what;
    this.where = where;
  }
}

const at = (source: SecretSource, path: string): string =>
  isAbsolute(path) ? path : resolve(source.baseDir ?? process.cwd(), path);

/** A file named by a spec (a certificate, a key), read now; `what` says what it is for in the error. */
export function readSpecFile(path: string, what: string, source: SecretSource): string {
  const full = at(source, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SecretError(what, `file ${full}`, `cannot be read (${code ?? 'error'})`, { cause: err });
  }
  if (text.trim() === '') throw new SecretError(what, `file ${full}`, 'is empty');
  return text;
}

/**
 * The value of a secret, without surrounding whitespace (`echo key > file` ends the file with a line break). An unset
 * or empty variable and a missing or empty file are errors naming it.
 */
export function resolveSecret(ref: SecretInput, what: string, source: SecretSource): string {
  if (typeof ref === 'string') return rememberSecret(ref);
  if ('env' in ref) {
    const value = source.env[ref.env]?.trim();
    if (value === undefined) throw new SecretError(what, `environment variable ${ref.env}`, 'is not set');
    if (value === '') throw new SecretError(what, `environment variable ${ref.env}`, 'is empty');
    return rememberSecret(value);
  }
  return rememberSecret(readSpecFile(ref.file, what, source).trim());
}

/** Values shorter than this are not scrubbed from log lines by value (too likely to match ordinary text). */
const MIN_SCRUBBED_CHARS = 8;
const secretValues = new Set<string>();

/**
 * Notes a secret value this process holds, so the logger (connectors/shared/log.ts) censors it wherever it would
 * appear in a line. Returns the value.
 */
export function rememberSecret(value: string): string {
  // A key ring or a PEM file holds several secrets, one a line: each is censored on its own too.
  for (const v of [value, ...(value.includes('\n') ? value.split('\n').map((l) => l.trim()) : [])])
    if (v.length >= MIN_SCRUBBED_CHARS) secretValues.add(v);
  return value;
}

/** The secret values noted so far. */
export function knownSecretValues(): ReadonlySet<string> {
  return secretValues;
}

/** Like resolveSecret, for an optional setting. */
export function resolveOptionalSecret(ref: SecretInput | undefined, what: string, source: SecretSource): string | undefined {
  return ref === undefined ? undefined : resolveSecret(ref, what, source);
}
