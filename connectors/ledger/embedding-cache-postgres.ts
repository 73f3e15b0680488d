import { endianness } from 'node:os';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { EmbeddingCache } from './ledger.ts';
import { PostgresConnectionConfig } from './postgres.config.ts';
import { describe, lazyReady, mapPostgresError, migrate, openPool, quoteIdent } from './postgres-db.ts';

export const PostgresEmbeddingCacheConfig = PostgresConnectionConfig;
export type PostgresEmbeddingCacheConfig = PostgresConnectionConfig;

/** Keys per statement: one round trip per batch keeps a large document's lookup cheap without huge arrays. */
const BATCH = 1000;

const LITTLE_ENDIAN = endianness() === 'LE';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE {schema}.embedding_cache (
     identity text COLLATE "C" NOT NULL,
     hash text COLLATE "C" NOT NULL,
     vector bytea NOT NULL,
     PRIMARY KEY (identity, hash)
   );`,
];

/** Float32 little-endian bytes, the SQLite cache's format, so entries mean the same whichever store holds them. */
function toBytes(v: Float32Array): Buffer {
  // A straight copy keeps every bit (NaN payloads included); the per-float path is for big-endian hosts.
  if (LITTLE_ENDIAN) return Buffer.copyBytesFrom(v);
  const out = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i]!, i * 4);
  return out;
}

/** A fresh vector (callers normalise in place); undefined for a damaged entry, which is cheaper to embed again. */
function fromBytes(b: Buffer): Float32Array | undefined {
  if (b.byteLength % 4 !== 0) return undefined;
  const out = new Float32Array(b.byteLength / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(b);
    return out;
  }
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}

/** Vectors keyed by (embedder identity, chunk hash) in PostgreSQL: one cache for every embed worker of every host. */
export function createPostgresEmbeddingCache(config: PostgresEmbeddingCacheConfig): EmbeddingCache {
  const c = PostgresEmbeddingCacheConfig.parse(config);
  const where = describe(c);
  const table = `${quoteIdent(c.schema)}.embedding_cache`;
  const pool = openPool(c, 'ragline-embedding-cache');
  const ready = lazyReady(() => migrate(pool, c.schema, 'embedding_cache', MIGRATIONS));
  let hits = 0;
  let misses = 0;
  let closed = false;

  async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (closed) throw new ConnectorError(FailureType.InvalidInput, `${what}: embedding cache ${where} is closed`);
    try {
      await ready();
      return await fn();
    } catch (err) {
      throw mapPostgresError(err, `${what} (${where})`);
    }
  }

  return {
    async getMany(identity, hashes) {
      const found = await guard('embedding cache get', async () => {
        const map = new Map<string, Buffer>();
        for (let i = 0; i < hashes.length; i += BATCH) {
          const { rows } = await pool.query<{ hash: string; vector: Buffer }>(
            `SELECT hash, vector FROM ${table} WHERE identity = $1 AND hash = ANY($2::text[])`,
            [identity, hashes.slice(i, i + BATCH)],
          );
          for (const r of rows) map.set(r.hash, r.vector);
        }
        return map;
      });
      return hashes.map((h) => {
        const bytes = found.get(h);
        const vector = bytes && fromBytes(bytes);
        if (vector === undefined) misses++;
        else hits++;
        return vector;
      });
    },

    async putMany(identity, entries) {
      if (entries.length === 0) return;
      await guard('embedding cache put', async () => {
        // Entries never change once written: a second writer of the same key (another worker) keeps the first.
        // Sorted, so two workers inserting overlapping keys lock them in the same order and cannot deadlock.
        const sorted = [...entries].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
        for (let i = 0; i < sorted.length; i += BATCH) {
          const part = sorted.slice(i, i + BATCH);
          await pool.query(
            `INSERT INTO ${table} (identity, hash, vector)
             SELECT $1, h, v FROM unnest($2::text[], $3::bytea[]) AS u(h, v) ON CONFLICT DO NOTHING`,
            [identity, part.map((e) => e.hash), part.map((e) => toBytes(e.vector))],
          );
        }
      });
    },

    stats() {
      return { hits, misses };
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
