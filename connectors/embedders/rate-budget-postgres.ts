import type pg from 'pg';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { checkPostgresConnection, PostgresConnectionFields } from '../ledger/postgres.config.ts';
import { describe, lazyReady, mapPostgresError, migrate, openPool, quoteIdent, withTransaction } from '../ledger/postgres-db.ts';
import {
  type BudgetEntry,
  type BudgetStore,
  createSlidingWindowBudget,
  type RateBudget,
  RateLimitsConfig,
  type SlidingWindowOptions,
  toLimits,
} from './rate-budget.ts';

export const PostgresRateBudgetConfig = PostgresConnectionFields.extend(RateLimitsConfig.shape)
  .extend({
    /** Budget name: one per (API, key). Every process of every host naming the same budget shares it. */
    name: z.string().min(1),
    /** How often a waiting worker looks again. */
    pollMs: z.number().int().positive().default(100),
  })
  .superRefine(checkPostgresConnection);
export type PostgresRateBudgetConfig = z.input<typeof PostgresRateBudgetConfig>;

/** Append, never edit, once released. Times are epoch ms of the database server's clock. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE {schema}.rate_entries (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     budget text COLLATE "C" NOT NULL,
     requests bigint NOT NULL,
     tokens bigint NOT NULL,
     until bigint NOT NULL
   );
   CREATE INDEX rate_entries_budget_until ON {schema}.rate_entries (budget, until);
   CREATE TABLE {schema}.rate_blocks (budget text COLLATE "C" PRIMARY KEY, until bigint NOT NULL);`,
];

// The server's clock in epoch ms. clock_timestamp(), not now(): now() is the transaction's start, before the lock wait.
const SERVER_NOW = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** Counts are whole numbers; an estimate may be fractional and is rounded up (never under-counted). */
const int = (n: number): number => (Number.isFinite(n) ? Math.ceil(n) : Number.MAX_SAFE_INTEGER);

/**
 * The budget shared by every worker process of every host through PostgreSQL: one transaction per acquire, observe
 * and settle, serialised per budget by a transaction-scoped advisory lock (released by COMMIT, or by the server when a
 * worker dies mid-transaction); waiting happens between transactions, holding no lock and no connection.
 *
 * Hosts' clocks disagree, so stored times are the database server's: each transaction reads the server clock after
 * taking the lock and shifts the caller's times by (server now - caller's now). What the planner sees is therefore
 * exact relative to the moment it decides, whatever each host's clock says.
 */
export function createPostgresRateBudget(config: PostgresRateBudgetConfig, opts: SlidingWindowOptions = {}): RateBudget {
  const c = PostgresRateBudgetConfig.parse(config);
  const where = describe(c);
  const s = quoteIdent(c.schema);
  const pool = openPool(c, 'ragline-rate-budget');
  const ready = lazyReady(() => migrate(pool, c.schema, 'rate_budget', MIGRATIONS));
  const lockKey = `ragline-rate-budget:${c.name}`;
  let closed = false;

  /** BEGIN; lock the budget; fn; COMMIT. A connection that cannot roll back is dropped, not reused. */
  async function locked<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (closed) throw new ConnectorError(FailureType.InvalidInput, `${what}: rate budget ${where} is closed`);
    try {
      await ready();
      return await withTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey]);
        return fn(client);
      });
    } catch (err) {
      throw mapPostgresError(err, `${what} (${where})`);
    }
  }

  const store: BudgetStore = {
    update(now, decide) {
      return locked('rate budget update', async (client) => {
        // Prune and read in one statement (a new snapshot, taken after the lock, so it sees the previous holder's
        // commit). The deletes are not visible to the outer SELECT, hence its own `until > now` filters.
        const { rows } = await client.query<{
          now: string;
          id: string | null;
          requests: string;
          tokens: string;
          until: string;
          blocked: string | null;
        }>(
          `WITH t AS MATERIALIZED (SELECT ${SERVER_NOW} AS now),
                pruned AS (DELETE FROM ${s}.rate_entries WHERE budget = $1 AND until <= (SELECT now FROM t)),
                unblocked AS (DELETE FROM ${s}.rate_blocks WHERE budget = $1 AND until <= (SELECT now FROM t))
           SELECT t.now, e.id, e.requests, e.tokens, e.until, b.until AS blocked
           FROM t
           LEFT JOIN ${s}.rate_entries e ON e.budget = $1 AND e.until > t.now
           LEFT JOIN ${s}.rate_blocks b ON b.budget = $1 AND b.until > t.now`,
          [c.name],
        );
        const shift = Number(rows[0]!.now) - now;
        const entries: BudgetEntry[] = rows
          .filter((r) => r.id !== null)
          .map((r) => ({
            id: Number(r.id),
            requests: Number(r.requests),
            tokens: Number(r.tokens),
            until: Number(r.until) - shift,
          }));
        const blocked = rows[0]!.blocked;
        const w = decide({ entries, blockedUntil: blocked === null ? 0 : Number(blocked) - shift });
        let ids: number[] = [];
        const insert = w.insert ?? [];
        if (insert.length > 0) {
          const res = await client.query<{ id: string }>(
            `INSERT INTO ${s}.rate_entries (budget, requests, tokens, until)
             SELECT $1, r, t, u FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS x(r, t, u, n)
             ORDER BY n RETURNING id`,
            [
              c.name,
              insert.map((e) => int(e.requests)),
              insert.map((e) => int(e.tokens)),
              insert.map((e) => int(e.until + shift)),
            ],
          );
          ids = res.rows.map((r) => Number(r.id));
        }
        if (w.blockUntil !== undefined) {
          await client.query(
            `INSERT INTO ${s}.rate_blocks (budget, until) VALUES ($1, $2)
             ON CONFLICT (budget) DO UPDATE SET until = greatest(${s}.rate_blocks.until, excluded.until)`,
            [c.name, int(w.blockUntil + shift)],
          );
        }
        return { result: w.result, ids };
      });
    },

    async settle(id, until, tokens) {
      // Under the lock too: a settle may raise the token count (the server counted more than the estimate), which a
      // concurrent acquire must not miss. `until` is relative to now, so it lands on the server's clock.
      const inMs = Math.max(0, Math.ceil(until - Date.now()));
      await locked('rate budget settle', (client) =>
        client.query(`UPDATE ${s}.rate_entries SET until = ${SERVER_NOW} + $2, tokens = $3 WHERE id = $1`, [
          id,
          inMs,
          int(tokens),
        ]),
      );
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
  return createSlidingWindowBudget(store, toLimits(c), { pollMs: c.pollMs, ...opts });
}
