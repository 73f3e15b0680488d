import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { inTransaction, mapSqliteError, openSqlite } from '../ledger/sqlite.ts';

// Collection statistics for BM25 sparse vectors that we compute ourselves (Pinecone keeps no keyword index of its own):
// per (index, tenant), how many chunks there are, their total length in terms, and for each term in how many chunks
// it occurs (df). Each chunk's row keeps its length and its distinct terms, so every write is idempotent and exact:
// writing a chunk takes its old terms' counts back and adds its new ones (a retried activity changes nothing, a chunk
// id whose text changed moves its counts), removing it takes them back once, all in one transaction. Reads are then
// O(query terms) whatever the index size: the totals are one row, each df one row.
//
// Tenants are kept apart: one tenant's words never change another's IDF, so scores (and what they reveal) stay
// within the tenant, as the sink's namespaces do.

/** One chunk's terms, as `analyze` gives them: `length` counts repeats, `terms` lists each distinct term once. */
export interface ChunkTerms {
  id: string;
  length: number;
  terms: readonly string[];
}

export interface TermStats {
  /** Records (or replaces) the terms of chunks of one tenant in one index. */
  put(index: string, tenant: string, chunks: readonly ChunkTerms[]): Promise<void>;
  /** Forgets chunks by id, whatever their tenant (chunk ids are unique across tenants). Unknown ids are ignored. */
  remove(index: string, ids: readonly string[]): Promise<void>;
  /** Forgets every chunk of the index (dropIndex). */
  drop(index: string): Promise<void>;
  /** How many chunks the tenant has in the index, and their average length in terms (0 when there are none). */
  collection(index: string, tenant: string): Promise<{ chunks: number; avgLength: number }>;
  /** In how many of the tenant's chunks each term occurs; terms in none are left out. */
  documentFrequencies(index: string, tenant: string, terms: readonly string[]): Promise<Map<string, number>>;
  close(): Promise<void>;
}

export const SqliteTermStatsConfig = z.object({
  /** The statistics file; every worker process of a host shares it (next to the ledger). */
  path: z.string().min(1),
  busyTimeoutMs: z.number().int().min(0).default(10_000),
});
export type SqliteTermStatsConfig = z.input<typeof SqliteTermStatsConfig>;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sparse_chunks (
     idx TEXT NOT NULL,
     chunk_id TEXT NOT NULL,
     tenant TEXT NOT NULL,
     length INTEGER NOT NULL,
     terms TEXT NOT NULL,
     PRIMARY KEY (idx, chunk_id)
   ) WITHOUT ROWID;
   CREATE TABLE sparse_df (
     idx TEXT NOT NULL,
     tenant TEXT NOT NULL,
     term TEXT NOT NULL,
     df INTEGER NOT NULL,
     PRIMARY KEY (idx, tenant, term)
   ) WITHOUT ROWID;
   CREATE TABLE sparse_totals (
     idx TEXT NOT NULL,
     tenant TEXT NOT NULL,
     chunks INTEGER NOT NULL,
     length INTEGER NOT NULL,
     PRIMARY KEY (idx, tenant)
   ) WITHOUT ROWID;`,
];

/** Terms per statement: under SQLite's bound-parameter limit. */
const BATCH = 500;

/** A chunk's distinct terms as stored: the analyzer's terms hold no spaces. */
export const joinTerms = (terms: readonly string[]): string => [...new Set(terms)].join(' ');
export const splitTerms = (s: string): string[] => (s === '' ? [] : s.split(' '));

/** The statistics in one SQLite file (WAL; several processes of a host share it). Statements are short and local. */
export function createSqliteTermStats(config: SqliteTermStatsConfig): TermStats {
  const c = SqliteTermStatsConfig.parse(config);
  const db: DatabaseSync = openSqlite(c.path, c.busyTimeoutMs, MIGRATIONS, 'sparse_stats_schema_version');
  const getChunk = db.prepare('SELECT tenant, length, terms FROM sparse_chunks WHERE idx = ? AND chunk_id = ?');
  const delChunk = db.prepare('DELETE FROM sparse_chunks WHERE idx = ? AND chunk_id = ?');
  const putChunk = db.prepare('INSERT INTO sparse_chunks (idx, chunk_id, tenant, length, terms) VALUES (?, ?, ?, ?, ?)');
  const addDf = db.prepare(
    `INSERT INTO sparse_df (idx, tenant, term, df) VALUES (?, ?, ?, ?)
     ON CONFLICT (idx, tenant, term) DO UPDATE SET df = df + excluded.df`,
  );
  const dropDf = db.prepare('DELETE FROM sparse_df WHERE idx = ? AND tenant = ? AND term = ? AND df <= 0');
  const addTotals = db.prepare(
    `INSERT INTO sparse_totals (idx, tenant, chunks, length) VALUES (?, ?, ?, ?)
     ON CONFLICT (idx, tenant) DO UPDATE SET chunks = chunks + excluded.chunks, length = length + excluded.length`,
  );
  const dropTotals = db.prepare('DELETE FROM sparse_totals WHERE idx = ? AND tenant = ? AND chunks <= 0');
  const totals = db.prepare('SELECT chunks, length FROM sparse_totals WHERE idx = ? AND tenant = ?');
  const dfs = new Map<number, StatementSync>();
  let closed = false;

  function df(n: number): StatementSync {
    let stmt = dfs.get(n);
    if (!stmt) {
      const marks = new Array(n).fill('?').join(', ');
      stmt = db.prepare(`SELECT term, df FROM sparse_df WHERE idx = ? AND tenant = ? AND term IN (${marks})`);
      dfs.set(n, stmt);
    }
    return stmt;
  }

  function guard<T>(what: string, fn: () => T): T {
    if (closed) throw new ConnectorError(FailureType.InvalidInput, `${what}: term statistics ${c.path} are closed`);
    try {
      return fn();
    } catch (err) {
      throw mapSqliteError(err, `${what} (${c.path})`);
    }
  }

  /** Adds (sign 1) or takes back (sign -1) one chunk's counts. */
  const count = (index: string, tenant: string, length: number, terms: readonly string[], sign: 1 | -1) => {
    for (const t of terms) {
      addDf.run(index, tenant, t, sign);
      if (sign < 0) dropDf.run(index, tenant, t);
    }
    addTotals.run(index, tenant, sign, sign * length);
    if (sign < 0) dropTotals.run(index, tenant);
  };
  const forget = (index: string, id: string) => {
    const old = getChunk.get(index, id) as { tenant: string; length: number; terms: string } | undefined;
    if (!old) return;
    count(index, old.tenant, Number(old.length), splitTerms(old.terms), -1);
    delChunk.run(index, id);
  };

  return {
    async put(index, tenant, chunks) {
      if (chunks.length === 0) return;
      guard('term statistics put', () =>
        inTransaction(db, () => {
          for (const ch of chunks) {
            forget(index, ch.id);
            const terms = joinTerms(ch.terms);
            putChunk.run(index, ch.id, tenant, ch.length, terms);
            count(index, tenant, ch.length, splitTerms(terms), 1);
          }
        }),
      );
    },

    async remove(index, ids) {
      if (ids.length === 0) return;
      guard('term statistics remove', () =>
        inTransaction(db, () => {
          for (const id of ids) forget(index, id);
        }),
      );
    },

    async drop(index) {
      guard('term statistics drop', () =>
        inTransaction(db, () => {
          for (const table of ['sparse_chunks', 'sparse_df', 'sparse_totals'])
            db.prepare(`DELETE FROM ${table} WHERE idx = ?`).run(index);
        }),
      );
    },

    async collection(index, tenant) {
      return guard('term statistics read', () => {
        const row = totals.get(index, tenant) as { chunks: number; length: number } | undefined;
        const chunks = Number(row?.chunks ?? 0);
        return { chunks, avgLength: chunks > 0 ? Number(row!.length) / chunks : 0 };
      });
    },

    async documentFrequencies(index, tenant, terms) {
      return guard('term statistics read', () => {
        const out = new Map<string, number>();
        const unique = [...new Set(terms)];
        for (let i = 0; i < unique.length; i += BATCH) {
          const part = unique.slice(i, i + BATCH);
          const rows = df(part.length).all(index, tenant, ...part) as unknown as Array<{ term: string; df: number }>;
          for (const r of rows) if (Number(r.df) > 0) out.set(r.term, Number(r.df));
        }
        return out;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
