import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createPostgresEmbeddingCache } from '../../connectors/ledger/embedding-cache-postgres.ts';
import { createPostgresLedger } from '../../connectors/ledger/postgres.ts';
import { postgresServer, uniqueName } from '../support/stack.ts';

/** The pipeline version these ledgers are views of. */
const TEST_SCOPE = { pipeline: 'test', version: 1 };

const server = postgresServer;
const bytesOf = (v: Float32Array | undefined) => (v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : undefined);

describe('PostgreSQL embedding cache', () => {
  const schema = uniqueName('embcache_test', '_').toLowerCase();
  const fresh = () => createPostgresEmbeddingCache({ ...server, schema, poolSize: 2 });
  after(async () => {
    const c = new pg.Client(server);
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });

  it('round-trips vectors bit for bit as Float32 little-endian bytes, special values included', async () => {
    const cache = fresh();
    try {
      const special = new Float32Array([0, -0, 1.5, -3.25e-12, Math.PI, 3.4028234663852886e38, 1e-45, Infinity, -Infinity, NaN]);
      const view = new Float32Array([9, 9, 0.1, 0.2, 0.3, 9]).subarray(2, 5);
      await cache.putMany('model-a@384', [
        { hash: 'special', vector: special },
        { hash: 'view', vector: view },
        { hash: 'le', vector: new Float32Array([1, -2]) },
      ]);
      const [gotSpecial, gotView, le] = await cache.getMany('model-a@384', ['special', 'view', 'le']);
      assert.ok(bytesOf(gotSpecial)!.equals(bytesOf(special)!));
      assert.ok(Object.is(gotSpecial![1], -0) && Number.isNaN(gotSpecial![9]));
      assert.deepEqual(Array.from(gotView!), Array.from(view));
      assert.deepEqual(Array.from(bytesOf(le)!), [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    } finally {
      await cache.close();
    }
  });

  it('answers misses as undefined in request order, per identity, counts hits and misses, keeps the first write', async () => {
    const cache = fresh();
    const other = fresh();
    try {
      await cache.putMany('m1', [
        { hash: 'a', vector: new Float32Array([1]) },
        { hash: 'b', vector: new Float32Array([2]) },
      ]);
      const got = await cache.getMany('m1', ['x', 'b', 'a', 'y', 'a']);
      assert.deepEqual(
        got.map((v) => v && v[0]),
        [undefined, 2, 1, undefined, 1],
      );
      assert.deepEqual(cache.stats(), { hits: 3, misses: 2 });
      assert.deepEqual(await cache.getMany('m2', ['a', 'b']), [undefined, undefined]);
      // Another worker writing the same keys (and a duplicate within one call) changes nothing and does not fail.
      await other.putMany('m1', [
        { hash: 'a', vector: new Float32Array([7]) },
        { hash: 'c', vector: new Float32Array([3]) },
        { hash: 'c', vector: new Float32Array([4]) },
      ]);
      assert.deepEqual(
        (await cache.getMany('m1', ['a', 'c'])).map((v) => v && v[0]),
        [1, 3],
      );
    } finally {
      await Promise.all([cache.close(), other.close()]);
    }
  });

  it('handles more keys than one statement batch, and shares the schema with a ledger', async () => {
    const cache = fresh();
    const ledger = createPostgresLedger({ ...server, schema, poolSize: 1 }, TEST_SCOPE);
    try {
      const entries = Array.from({ length: 2500 }, (_, i) => ({ hash: `h${i}`, vector: new Float32Array([i, -i]) }));
      await Promise.all([cache.putMany('big', entries), ledger.counts()]);
      const got = await cache.getMany(
        'big',
        entries.map((e) => e.hash),
      );
      assert.ok(got.every((v, i) => v !== undefined && v[0] === i && v[1] === -i));
    } finally {
      await Promise.all([cache.close(), ledger.close()]);
    }
  });
});
