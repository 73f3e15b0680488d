import { randomBytes } from 'node:crypto';
import { loadStackConfig, type StackConfig } from '../../infra/config.ts';

/** The running local stack's addresses and credentials, from the same settings `infra:up` used. */
export const stack: StackConfig = loadStackConfig();

/** The local PostgreSQL server's connection fields, as the ledger, cache and rate-budget configs take them. */
export const postgresServer = {
  host: '127.0.0.1',
  port: stack.ports.postgres,
  user: stack.postgres.user,
  password: stack.postgres.password,
  database: stack.postgres.database,
};

/** A name no other test run uses, so suites can share one server without cleaning up each other's data. */
export function uniqueName(prefix: string, sep = '-'): string {
  return `${prefix}${sep}${Date.now().toString(36)}${sep}${randomBytes(3).toString('hex')}`;
}

/** Polls `fn` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
}
