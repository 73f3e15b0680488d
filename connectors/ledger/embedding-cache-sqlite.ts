import { endianness } from 'node:os';
import type { StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { EmbeddingCache } from './ledger.ts';
import { inTransaction, mapSqliteError, openSqlite } from './sqlite.ts';

export const SqliteEmbeddingCacheConfig = z.object({
  /** The cache file; every worker process of a host shares it. May be the ledger's file (the tables differ). */
  path: z.string().min(1),
  busyTimeoutMs: z.number().int().min(0).default(10_000),
});
export type SqliteEmbeddingCacheConfig = z.input<typeof SqliteEmbeddingCacheConfig>;

/** Keys per SELECT: well under SQLite's bound-parameter limit, and few enough to keep one statement cheap. */
const BATCH = 500;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE embedding_cache (
     identity TEXT NOT NULL,
     hash TEXT NOT NULL,
     vector BLOB NOT NULL,
     PRIMARY KEY (identity, hash)
   ) WITHOUT ROWID;`,
];

const LITTLE_ENDIAN = endianness() === 'LE';

/** Float32 little-endian bytes, whatever the host's byte order, so a cache file moves between machines. */
function toBytes(v: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const out = new Uint8Array(v.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i]!, true);
  return out;
}

/** A fresh vector: callers may mutate it (normalise in place) without touching the cache or each other. */
function fromBytes(b: Uint8Array): Float32Array | undefined {
  // Not whole floats: a damaged entry. Embedding the chunk again is cheaper than failing the document.
  if (b.byteLength % 4 !== 0) return undefined;
  const out = new Float32Array(b.byteLength / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(b);
  } else {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** Vectors keyed by (embedder identity, chunk hash) in a SQLite file; entries never change once written. */
export function createSqliteEmbeddingCache(config: SqliteEmbeddingCacheConfig): EmbeddingCache {
  const c = SqliteEmbeddingCacheConfig.parse(config);
  const db = openSqlite(c.path, c.busyTimeoutMs, MIGRATIONS, 'embedding_cache_schema_version');
  const insert = db.prepare('INSERT OR IGNORE INTO embedding_cache (identity, hash, vector) VALUES (?, ?, ?)');
  const selects = new Map<number, StatementSync>();
  let hits = 0;
  let misses = 0;
  let closed = false;

  function select(n: number): StatementSync {
    let stmt = selects.get(n);
    if (!stmt) {
      const marks = new Array(n).fill('?').join(', ');
      stmt = db.prepare(`SELECT hash, vector FROM embedding_cache WHERE identity = ? AND hash IN (${marks})`);
      selects.set(n, stmt);
    }
    return stmt;
  }

  function guard<T>(what: string, fn: () => T): T {
    if (closed) throw new ConnectorError(FailureType.InvalidInput, `${what}: embedding cache ${c.path} is closed`);
    try {
      return fn();
    } catch (err) {
      throw mapSqliteError(err, `${what} (${c.path})`);
    }
  }

  return {
    async getMany(identity, hashes) {
      return guard('embedding cache get', () => {
        const found = new Map<string, Uint8Array>();
        for (let i = 0; i < hashes.length; i += BATCH) {
          const part = hashes.slice(i, i + BATCH);
          const rows = select(part.length).all(identity, ...part) as unknown as Array<{ hash: string; vector: Uint8Array }>;
          for (const r of rows) found.set(r.hash, r.vector);
        }
        return hashes.map((h) => {
          const bytes = found.get(h);
          const vector = bytes && fromBytes(bytes);
          if (vector === undefined) misses++;
          else hits++;
          return vector;
        });
      });
    },

    async putMany(identity, entries) {
      if (entries.length === 0) return;
      guard('embedding cache put', () =>
        inTransaction(db, () => {
          for (const e of entries) insert.run(identity, e.hash, toBytes(e.vector));
        }),
      );
    },

    stats() {
      return { hits, misses };
    },

    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
