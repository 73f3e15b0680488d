import { z } from 'zod';

// The settings alone, so a pipeline spec validates without loading the pg driver.

/** Where a PostgreSQL-backed store connects: `url`, or host/port/user/database. Shared by the ledger and the cache. */
export const PostgresConnectionFields = z.object({
  /** `postgres://user:password@host:port/database?sslmode=...`. */
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// url')
    .optional(),
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().min(1).optional(),
  /** Also allowed beside `url`, so the url can stay free of secrets. */
  password: z.string().optional(),
  database: z.string().min(1).optional(),
  /** Connections per process; each worker process holds its own pool. */
  poolSize: z.number().int().min(1).max(100).default(10),
  /** Server-side limit per statement; a statement past it fails as retryable Unavailable. */
  statementTimeoutMs: z.number().int().min(0).default(30_000),
  connectTimeoutMs: z.number().int().min(1).default(10_000),
  /** Every table lives in this schema (created if missing), so pipelines or test runs can share a database. */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits and _, at most 63')
    .default('ragline'),
});

/** url and the separate fields exclude each other, so a setting is never silently overridden by the other form. */
export function checkPostgresConnection(
  c: { url?: string; host?: string; port?: number; user?: string; database?: string },
  ctx: z.RefinementCtx,
): void {
  const fields = (['host', 'port', 'user', 'database'] as const).filter((k) => c[k] !== undefined);
  if (c.url !== undefined && fields.length > 0)
    ctx.addIssue({ code: 'custom', path: [fields[0]!], message: `give either url or ${fields.join('/')}, not both` });
  if (c.url === undefined && c.host === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'give url or host' });
}

export const PostgresConnectionConfig = PostgresConnectionFields.superRefine(checkPostgresConnection);
export type PostgresConnectionConfig = z.input<typeof PostgresConnectionConfig>;

export const PostgresLedgerConfig = PostgresConnectionConfig;
export type PostgresLedgerConfig = PostgresConnectionConfig;
