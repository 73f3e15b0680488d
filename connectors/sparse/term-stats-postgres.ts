import type pg from 'pg';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { PostgresConnectionConfig } from '../ledger/postgres.config.ts';
import { describe, lazyReady, mapPostgresError, migrate, openPool, quoteIdent, withTransaction } from '../ledger/postgres-db.ts';
import { joinTerms, splitTerms, type TermStats } from './term-stats.ts';

export const PostgresTermStatsConfig = PostgresConnectionConfig;
export type PostgresTermStatsConfig = PostgresConnectionConfig;

/** The SQLite store's layout, so both mean the same; append, never edit, once released. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE {schema}.sparse_chunks (
     idx text COLLATE "C" NOT NULL,
     chunk_id text COLLATE "C" NOT NULL,
     tenant text COLLATE "C" NOT NULL,
     length integer NOT NULL,
     terms text COLLATE "C" NOT NULL,
     PRIMARY KEY (idx, chunk_id)
   );
   CREATE TABLE {schema}.sparse_df (
     idx text COLLATE "C" NOT NULL,
     tenant text COLLATE "C" NOT NULL,
     term text COLLATE "C" NOT NULL,
     df integer NOT NULL,
     PRIMARY KEY (idx, tenant, term)
   );
   CREATE TABLE {schema}.sparse_totals (
     idx text COLLATE "C" NOT NULL,
     tenant text COLLATE "C" NOT NULL,
     chunks integer NOT NULL,
     length bigint NOT NULL,
     PRIMARY KEY (idx, tenant)
   );`,
];

/** Chunk ids or query terms per statement. */
const BATCH = 1000;
/** df rows per statement: a large batch stays a few statements without huge parameters. */
const ROWS = 10_000;
/** A chunk row made by a put still in progress, to lock its id: it counts for nothing until the put fills it in. */
const PLACEHOLDER = -1;

/** Byte order of UTF-8, which is what COLLATE "C" sorts by (UTF-16 order differs past the BMP). */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface Old {
  chunk_id: string;
  tenant: string;
  length: number;
  terms: string;
}

/**
 * The statistics in PostgreSQL, for a fleet whose sinks share one index. Every write locks in one order: first the
 * chunk rows it touches, in chunk-id order ("C"; an id not yet there gets a placeholder row first, so two writers of
 * one new chunk queue on it and the second sees the first's terms to take back), then the df rows in (tenant, term)
 * order, then the totals rows in tenant order. Writers whose chunks overlap queue behind each other; none deadlock.
 * Counts move by deltas computed from the locked rows, so a write that changes nothing (a retry) writes no df row.
 */
export function createPostgresTermStats(config: PostgresTermStatsConfig): TermStats {
  const c = PostgresTermStatsConfig.parse(config);
  const where = describe(c);
  const s = quoteIdent(c.schema);
  const chunksTable = `${s}.sparse_chunks`;
  const dfTable = `${s}.sparse_df`;
  const totalsTable = `${s}.sparse_totals`;
  const pool = openPool(c, 'ragline-term-stats');
  const ready = lazyReady(() => migrate(pool, c.schema, 'sparse_stats', MIGRATIONS));
  let closed = false;

  async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (closed) throw new ConnectorError(FailureType.InvalidInput, `${what}: term statistics ${where} are closed`);
    try {
      await ready();
      return await fn();
    } catch (err) {
      throw mapPostgresError(err, `${what} (${where})`);
    }
  }

  /** BEGIN; fn; COMMIT. A connection that cannot roll back is dropped, not reused. */
  function inTransaction(what: string, fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    return guard(what, () => withTransaction(pool, fn));
  }

  /** Locks the chunk rows of `ids` (sorted) and returns those that count (placeholders of other writers never do). */
  async function lockChunks(client: pg.PoolClient, index: string, ids: string[]): Promise<Map<string, Old>> {
    const out = new Map<string, Old>();
    for (let i = 0; i < ids.length; i += BATCH) {
      const { rows } = await client.query<Old>(
        `SELECT chunk_id, tenant, length, terms FROM ${chunksTable}
         WHERE idx = $1 AND chunk_id = ANY($2::text[]) ORDER BY chunk_id FOR UPDATE`,
        [index, ids.slice(i, i + BATCH)],
      );
      for (const r of rows) if (r.length !== PLACEHOLDER) out.set(r.chunk_id, r);
    }
    return out;
  }

  /** Applies count deltas: df per (tenant, term) and totals per tenant, in lock order, dropping rows that reach 0. */
  async function applyDeltas(
    client: pg.PoolClient,
    index: string,
    df: Map<string, Map<string, number>>,
    totals: Map<string, { chunks: number; length: number }>,
  ): Promise<void> {
    const rows: [string, string, number][] = [];
    for (const [tenant, terms] of df) for (const [term, d] of terms) if (d !== 0) rows.push([tenant, term, d]);
    rows.sort((a, b) => byteOrder(a[0], b[0]) || byteOrder(a[1], b[1]));
    for (let i = 0; i < rows.length; i += ROWS) {
      const part = rows.slice(i, i + ROWS);
      await client.query(
        `INSERT INTO ${dfTable} (idx, tenant, term, df)
         SELECT $1, t, term, d FROM unnest($2::text[], $3::text[], $4::integer[]) WITH ORDINALITY AS u(t, term, d, n)
         ORDER BY n
         ON CONFLICT (idx, tenant, term) DO UPDATE SET df = ${dfTable}.df + excluded.df`,
        [index, part.map((r) => r[0]), part.map((r) => r[1]), part.map((r) => r[2])],
      );
      if (part.some((r) => r[2] < 0)) {
        await client.query(
          `DELETE FROM ${dfTable} d USING unnest($2::text[], $3::text[]) AS u(t, term)
           WHERE d.idx = $1 AND d.tenant = u.t AND d.term = u.term AND d.df <= 0`,
          [index, part.map((r) => r[0]), part.map((r) => r[1])],
        );
      }
    }
    const tenants = [...totals].filter(([, t]) => t.chunks !== 0 || t.length !== 0).sort((a, b) => byteOrder(a[0], b[0]));
    for (const [tenant, t] of tenants) {
      await client.query(
        `INSERT INTO ${totalsTable} (idx, tenant, chunks, length) VALUES ($1, $2, $3, $4)
         ON CONFLICT (idx, tenant) DO UPDATE
           SET chunks = ${totalsTable}.chunks + excluded.chunks, length = ${totalsTable}.length + excluded.length`,
        [index, tenant, t.chunks, t.length],
      );
      if (t.chunks < 0) {
        await client.query(`DELETE FROM ${totalsTable} WHERE idx = $1 AND tenant = $2 AND chunks <= 0`, [index, tenant]);
      }
    }
  }

  /** Delta bookkeeping: `sign` 1 counts a chunk in, -1 takes it back. */
  function deltas() {
    const df = new Map<string, Map<string, number>>();
    const totals = new Map<string, { chunks: number; length: number }>();
    const add = (tenant: string, length: number, terms: readonly string[], sign: 1 | -1) => {
      const m = df.get(tenant) ?? df.set(tenant, new Map()).get(tenant)!;
      for (const t of terms) m.set(t, (m.get(t) ?? 0) + sign);
      const tot = totals.get(tenant) ?? totals.set(tenant, { chunks: 0, length: 0 }).get(tenant)!;
      tot.chunks += sign;
      tot.length += sign * length;
    };
    return { df, totals, add };
  }

  return {
    async put(index, tenant, chunks) {
      if (chunks.length === 0) return;
      // One row per id, the last given winning (as SQLite does), in the order the rows are locked.
      const byId = new Map(chunks.map((ch) => [ch.id, ch]));
      const ids = [...byId.keys()].sort(byteOrder);
      await inTransaction('term statistics put', async (client) => {
        for (let i = 0; i < ids.length; i += BATCH) {
          await client.query(
            `INSERT INTO ${chunksTable} (idx, chunk_id, tenant, length, terms)
             SELECT $1, id, $2, ${PLACEHOLDER}, '' FROM unnest($3::text[]) WITH ORDINALITY AS u(id, n) ORDER BY n
             ON CONFLICT (idx, chunk_id) DO NOTHING`,
            [index, tenant, ids.slice(i, i + BATCH)],
          );
        }
        const old = await lockChunks(client, index, ids);
        const d = deltas();
        const fresh = ids.map((id) => {
          const ch = byId.get(id)!;
          return { id, length: ch.length, terms: joinTerms(ch.terms) };
        });
        for (const f of fresh) {
          const o = old.get(f.id);
          if (o && o.tenant === tenant && o.terms === f.terms && o.length === f.length) continue;
          if (o) d.add(o.tenant, o.length, splitTerms(o.terms), -1);
          d.add(tenant, f.length, splitTerms(f.terms), 1);
        }
        for (let i = 0; i < fresh.length; i += BATCH) {
          const part = fresh.slice(i, i + BATCH);
          await client.query(
            `UPDATE ${chunksTable} c SET tenant = $2, length = u.length, terms = u.terms
             FROM unnest($3::text[], $4::integer[], $5::text[]) AS u(id, length, terms)
             WHERE c.idx = $1 AND c.chunk_id = u.id`,
            [index, tenant, part.map((f) => f.id), part.map((f) => f.length), part.map((f) => f.terms)],
          );
        }
        await applyDeltas(client, index, d.df, d.totals);
      });
    },

    async remove(index, ids) {
      if (ids.length === 0) return;
      const sorted = [...new Set(ids)].sort(byteOrder);
      await inTransaction('term statistics remove', async (client) => {
        const old = await lockChunks(client, index, sorted);
        if (old.size === 0) return;
        const d = deltas();
        for (const o of old.values()) d.add(o.tenant, o.length, splitTerms(o.terms), -1);
        const gone = [...old.keys()];
        for (let i = 0; i < gone.length; i += BATCH) {
          await client.query(`DELETE FROM ${chunksTable} WHERE idx = $1 AND chunk_id = ANY($2::text[])`, [
            index,
            gone.slice(i, i + BATCH),
          ]);
        }
        await applyDeltas(client, index, d.df, d.totals);
      });
    },

    async drop(index) {
      await inTransaction('term statistics drop', async (client) => {
        // Every chunk row of the index first, in order, as the other writers lock them.
        await client.query(`SELECT 1 FROM ${chunksTable} WHERE idx = $1 ORDER BY chunk_id FOR UPDATE`, [index]);
        for (const table of [chunksTable, dfTable, totalsTable])
          await client.query(`DELETE FROM ${table} WHERE idx = $1`, [index]);
      });
    },

    async collection(index, tenant) {
      return guard('term statistics read', async () => {
        const { rows } = await pool.query<{ chunks: number; length: string }>(
          `SELECT chunks, length FROM ${totalsTable} WHERE idx = $1 AND tenant = $2`,
          [index, tenant],
        );
        const chunks = rows[0]?.chunks ?? 0;
        return { chunks, avgLength: chunks > 0 ? Number(rows[0]!.length) / chunks : 0 };
      });
    },

    async documentFrequencies(index, tenant, terms) {
      return guard('term statistics read', async () => {
        const out = new Map<string, number>();
        const unique = [...new Set(terms)];
        for (let i = 0; i < unique.length; i += BATCH) {
          const { rows } = await pool.query<{ term: string; df: number }>(
            `SELECT term, df FROM ${dfTable} WHERE idx = $1 AND tenant = $2 AND term = ANY($3::text[])`,
            [index, tenant, unique.slice(i, i + BATCH)],
          );
          for (const r of rows) if (r.df > 0) out.set(r.term, r.df);
        }
        return out;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
