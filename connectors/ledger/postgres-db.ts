import pg from 'pg';
import type { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { PostgresConnectionConfig } from './postgres.config.ts';

type Parsed = z.output<typeof PostgresConnectionConfig>;

/** Where the server is, for messages (never the password). */
export function describe(c: Parsed): string {
  if (c.url) {
    try {
      const u = new URL(c.url);
      return `${u.host}${u.pathname} schema ${c.schema}`;
    } catch {
      return `(unparsable url) schema ${c.schema}`;
    }
  }
  return `${c.host}:${c.port ?? 5432}/${c.database ?? c.user ?? ''} schema ${c.schema}`;
}

/** pg lets a url's (absent) password win over a separate one, so the separate one goes into the url. */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

export function openPool(c: Parsed, applicationName: string): pg.Pool {
  const pool = new pg.Pool({
    ...(c.url
      ? { connectionString: withPassword(c.url, c.password) }
      : { host: c.host, port: c.port, user: c.user, database: c.database, password: c.password }),
    max: c.poolSize,
    statement_timeout: c.statementTimeoutMs,
    connectionTimeoutMillis: c.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: applicationName,
  });
  // An idle connection dropped by the server (restart, failover) is an 'error' event on the pool; without a listener it
  // would crash the worker. The pool discards that connection and the next query opens a fresh one.
  pool.on('error', () => undefined);
  return pool;
}

/** A schema name is checked by the config's regex; quoting still keeps it an identifier whatever it is. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

// SQLSTATE classes and codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const TRANSIENT_CLASSES = ['08', '40', '53', '58'] as const; // connection, rollback (serialization, deadlock), resources, system
const TRANSIENT_CODES = ['57P01', '57P02', '57P03', '57014', '55P03', '55006'] as const; // shutdown, cannot connect now, cancel/timeout, lock not available, object in use
const BAD_INPUT_CLASSES = ['22', '23'] as const; // data exception (NUL byte, bad encoding), integrity constraint
const MISCONFIGURED_CODES = ['28000', '28P01', '3D000', '42501', '3F000'] as const; // auth, no database, no privilege, no schema
const SOCKET_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
];
// pg raises these as plain Errors without a code.
const DROPPED = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/;

/**
 * The one place that decides what a PostgreSQL failure means: unreachable, overloaded or contended servers are
 * retryable Unavailable; data the server refuses and settings that cannot work are InvalidInput; anything else (a
 * bug in our SQL) passes through unchanged.
 */
export function mapPostgresError(err: unknown, what: string): unknown {
  if (err instanceof ConnectorError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = `${what}: ${typeof e.message === 'string' && e.message ? e.message : String(err)}${code ? ` (${code})` : ''}`;
  const is = (list: readonly string[], value: string) => list.includes(value);
  if (
    is(TRANSIENT_CODES, code) ||
    (code.length === 5 && is(TRANSIENT_CLASSES, code.slice(0, 2))) ||
    SOCKET_CODES.includes(code) ||
    (!code && DROPPED.test(String(e.message)))
  ) {
    return new ConnectorError(FailureType.Unavailable, message, { cause: err });
  }
  if (code.length === 5 && is(BAD_INPUT_CLASSES, code.slice(0, 2)))
    return new ConnectorError(FailureType.InvalidInput, message, { cause: err });
  if (is(MISCONFIGURED_CODES, code))
    return new ConnectorError(FailureType.InvalidInput, `${message}; check the connection settings`, { cause: err });
  return err;
}

/** A migration is SQL with `{schema}` standing for the quoted schema name. Append, never edit, once released. */
export type Migration = string;

/**
 * Brings `component`'s tables in `schema` up to date. One transaction under an advisory lock keyed by the schema, so
 * processes starting together apply each migration once, and a failed migration leaves nothing half-done (DDL is
 * transactional in PostgreSQL).
 */
/** BEGIN; fn; COMMIT on one connection of the pool. A connection that cannot even roll back is dropped, not reused. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw err;
  } finally {
    client.release(broken);
  }
}

export async function migrate(pool: pg.Pool, schema: string, component: string, migrations: readonly Migration[]): Promise<void> {
  const s = quoteIdent(schema);
  await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`ragline-schema:${schema}`]);
    // Checked first: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which a least-privileged role lacks.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_versions (component text PRIMARY KEY, version integer NOT NULL)`);
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_versions WHERE component = $1`, [
      component,
    ]);
    const current = rows[0]?.version ?? 0;
    if (current > migrations.length)
      throw new ConnectorError(
        FailureType.InvalidInput,
        `schema ${schema} has ${component} version ${current}, newer than this code knows (${migrations.length})`,
      );
    for (let v = current; v < migrations.length; v++) await client.query(migrations[v]!.replaceAll('{schema}', s));
    await client.query(
      `INSERT INTO ${s}.schema_versions (component, version) VALUES ($1, $2)
       ON CONFLICT (component) DO UPDATE SET version = excluded.version`,
      [component, migrations.length],
    );
  });
}

/**
 * Runs migrations once, on first use rather than in the factory, so a worker starts while the database is briefly
 * away; a failed attempt is forgotten and the next call tries again.
 */
export function lazyReady(fn: () => Promise<void>): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= fn().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
}
