import { z } from 'zod';
import { inTransaction, openSqlite } from '../ledger/sqlite.ts';
import {
  type BudgetEntry,
  type BudgetStore,
  createSlidingWindowBudget,
  type RateBudget,
  RateLimitsConfig,
  type SlidingWindowOptions,
  toLimits,
} from './rate-budget.ts';

export const SqliteRateBudgetConfig = RateLimitsConfig.extend({
  /** The database file every worker process of the host opens (WAL; may be the ledger's file or its own). */
  path: z.string().min(1),
  /** Budget name: one per (API, key). Processes naming the same budget share it. */
  name: z.string().min(1),
  busyTimeoutMs: z.number().int().min(0).default(10_000),
  /** How often a waiting worker looks again. */
  pollMs: z.number().int().positive().default(100),
});
export type SqliteRateBudgetConfig = z.input<typeof SqliteRateBudgetConfig>;

/** Append, never edit, once released. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE rate_entries (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     budget TEXT NOT NULL,
     requests INTEGER NOT NULL,
     tokens INTEGER NOT NULL,
     until INTEGER NOT NULL
   );
   CREATE INDEX rate_entries_budget_until ON rate_entries (budget, until);
   CREATE TABLE rate_blocks (budget TEXT PRIMARY KEY, until INTEGER NOT NULL);`,
];

/**
 * The budget shared by every worker process of one host through a SQLite file. Each acquire is one `BEGIN IMMEDIATE`
 * transaction (the write lock serialises the read-decide-write across processes); waiting happens outside it.
 * Across hosts use the PostgreSQL store (rate-budget-postgres.ts), which the pipeline picks with a PostgreSQL ledger.
 */
export function createSqliteRateBudget(config: SqliteRateBudgetConfig, opts: SlidingWindowOptions = {}): RateBudget {
  const c = SqliteRateBudgetConfig.parse(config);
  const db = openSqlite(c.path, c.busyTimeoutMs, MIGRATIONS, 'rate_budget_schema_version');
  const prune = db.prepare('DELETE FROM rate_entries WHERE budget = ? AND until <= ?');
  const live = db.prepare('SELECT id, requests, tokens, until FROM rate_entries WHERE budget = ?');
  const block = db.prepare('SELECT until FROM rate_blocks WHERE budget = ?');
  const insert = db.prepare('INSERT INTO rate_entries (budget, requests, tokens, until) VALUES (?, ?, ?, ?) RETURNING id');
  const setBlock = db.prepare(
    'INSERT INTO rate_blocks (budget, until) VALUES (?, ?) ON CONFLICT (budget) DO UPDATE SET until = max(until, excluded.until)',
  );
  const settle = db.prepare('UPDATE rate_entries SET until = ?, tokens = ? WHERE id = ?');
  // Token counts may be Infinity-free integers only; SQLite stores them as INTEGER.
  const int = (n: number): number => (Number.isFinite(n) ? Math.ceil(n) : Number.MAX_SAFE_INTEGER);

  const store: BudgetStore = {
    async update(now, decide) {
      return inTransaction(db, () => {
        prune.run(c.name, now);
        const entries = live.all(c.name) as unknown as BudgetEntry[];
        const blockedUntil = (block.get(c.name) as { until: number } | undefined)?.until ?? 0;
        const w = decide({ entries, blockedUntil });
        const ids = (w.insert ?? []).map(
          (e) => (insert.get(c.name, int(e.requests), int(e.tokens), int(e.until)) as { id: number }).id,
        );
        if (w.blockUntil !== undefined) setBlock.run(c.name, int(w.blockUntil));
        return { result: w.result, ids };
      });
    },
    async settle(id, until, tokens) {
      settle.run(int(until), int(tokens), id);
    },
    async close() {
      db.close();
    },
  };
  return createSlidingWindowBudget(store, toLimits(c), { pollMs: c.pollMs, ...opts });
}
