import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { createSqliteEmbeddingCache } from './embedding-cache-sqlite.ts';
import { createThreadedSqliteEmbeddingCache } from './sqlite-thread.ts';

const bytesOf = (v: Float32Array | undefined) => (v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : undefined);

// Workers use the cache on its own thread (sqlite-thread.ts); both forms keep the same promises.
for (const [label, open] of [
  ['SQLite embedding cache', createSqliteEmbeddingCache],
  ['SQLite embedding cache on its thread', createThreadedSqliteEmbeddingCache],
] as const) {
  describe(label, () => {
    let dir: string;
    let n = 0;
    const fresh = () => join(dir, `cache-${++n}.db`);
    before(async () => (dir = await mkdtemp(join(tmpdir(), 'ragline-embcache-'))));
    after(() => rm(dir, { recursive: true, force: true }));

    it('round-trips vectors bit for bit, special values included', async () => {
      const cache = open({ path: fresh() });
      const special = new Float32Array([0, -0, 1.5, -3.25e-12, Math.PI, 3.4028234663852886e38, 1e-45, Infinity, -Infinity, NaN]);
      const backing = new Float32Array([9, 9, 0.1, 0.2, 0.3, 9]);
      const view = backing.subarray(2, 5); // a view at a non-zero offset must store only its own floats
      await cache.putMany('model-a@384', [
        { hash: 'special', vector: special },
        { hash: 'view', vector: view },
      ]);
      const [gotSpecial, gotView] = await cache.getMany('model-a@384', ['special', 'view']);
      assert.ok(bytesOf(gotSpecial)!.equals(bytesOf(special)!));
      assert.ok(Object.is(gotSpecial![1], -0) && Number.isNaN(gotSpecial![9]));
      assert.deepEqual(Array.from(gotView!), Array.from(view));
      await cache.close();
    });

    it('stores Float32 little-endian bytes', async () => {
      const path = fresh();
      const cache = open({ path });
      await cache.putMany('m', [{ hash: 'h', vector: new Float32Array([1, -2]) }]);
      await cache.close();
      const raw = new DatabaseSync(path, { readOnly: true });
      const row = raw.prepare('SELECT vector FROM embedding_cache').get() as { vector: Uint8Array };
      raw.close();
      assert.deepEqual(Array.from(row.vector), [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    });

    it('answers misses as undefined in request order, per identity, and counts hits and misses', async () => {
      const cache = open({ path: fresh() });
      assert.deepEqual(cache.stats(), { hits: 0, misses: 0 });
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
      // The same hash under another embedder identity is another vector.
      assert.deepEqual(await cache.getMany('m2', ['a', 'b']), [undefined, undefined]);
      assert.deepEqual(cache.stats(), { hits: 3, misses: 4 });
      assert.deepEqual(await cache.getMany('m1', []), []);
      await cache.putMany('m1', []);
      await cache.close();
    });

    it('keeps the first vector written for a key', async () => {
      const cache = open({ path: fresh() });
      await cache.putMany('m', [{ hash: 'h', vector: new Float32Array([1, 2]) }]);
      await cache.putMany('m', [
        { hash: 'h', vector: new Float32Array([7, 7]) },
        { hash: 'other', vector: new Float32Array([3]) },
      ]);
      const [h, other] = await cache.getMany('m', ['h', 'other']);
      assert.deepEqual(Array.from(h!), [1, 2]);
      assert.deepEqual(Array.from(other!), [3]);
      await cache.close();
    });

    it('returns fresh copies that callers may mutate', async () => {
      const cache = open({ path: fresh() });
      const input = new Float32Array([1, 2, 3]);
      await cache.putMany('m', [{ hash: 'h', vector: input }]);
      input[0] = 100;
      const [first, second] = await cache.getMany('m', ['h', 'h']);
      assert.notEqual(first, second);
      assert.notEqual(first!.buffer, second!.buffer);
      first![1] = 200;
      assert.deepEqual(Array.from(second!), [1, 2, 3]);
      assert.deepEqual(Array.from((await cache.getMany('m', ['h']))[0]!), [1, 2, 3]);
      await cache.close();
    });

    it('looks up more keys than one query takes, in order', async () => {
      const cache = open({ path: fresh() });
      const entries = Array.from({ length: 1203 }, (_, i) => ({ hash: `h${i}`, vector: new Float32Array([i, -i]) }));
      await cache.putMany(
        'm',
        entries.filter((_, i) => i % 3 !== 0),
      );
      const got = await cache.getMany(
        'm',
        entries.map((e) => e.hash),
      );
      assert.equal(got.length, 1203);
      got.forEach((v, i) => assert.deepEqual(v && Array.from(v), i % 3 === 0 ? undefined : [i, -i]));
      assert.deepEqual(cache.stats(), { hits: 802, misses: 401 });
      await cache.close();
    });

    it('two instances share one file; each counts its own lookups', async () => {
      const path = fresh();
      const a = open({ path });
      const b = open({ path });
      await a.putMany('m', [{ hash: 'h1', vector: new Float32Array([0.5]) }]);
      await b.putMany('m', [{ hash: 'h2', vector: new Float32Array([0.25]) }]);
      assert.deepEqual(
        (await b.getMany('m', ['h1', 'h2'])).map((v) => v?.[0]),
        [0.5, 0.25],
      );
      assert.deepEqual(
        (await a.getMany('m', ['h2', 'h3'])).map((v) => v?.[0]),
        [0.25, undefined],
      );
      assert.deepEqual(b.stats(), { hits: 2, misses: 0 });
      assert.deepEqual(a.stats(), { hits: 1, misses: 1 });
      await Promise.all([
        a.putMany(
          'm',
          Array.from({ length: 100 }, (_, i) => ({ hash: `a${i}`, vector: new Float32Array([i]) })),
        ),
        b.putMany(
          'm',
          Array.from({ length: 100 }, (_, i) => ({ hash: `b${i}`, vector: new Float32Array([-i]) })),
        ),
      ]);
      const all = await a.getMany('m', [
        ...Array.from({ length: 100 }, (_, i) => `a${i}`),
        ...Array.from({ length: 100 }, (_, i) => `b${i}`),
      ]);
      assert.ok(all.every((v) => v !== undefined));
      await a.close();
      await b.close();
    });

    it('treats a damaged entry as a miss', async () => {
      const path = fresh();
      const cache = open({ path });
      // The threaded form opens its file on first use: a write makes sure the table exists before the raw insert.
      await cache.putMany('m', [{ hash: 'good', vector: new Float32Array([1]) }]);
      const raw = new DatabaseSync(path);
      raw
        .prepare('INSERT INTO embedding_cache (identity, hash, vector) VALUES (?, ?, ?)')
        .run('m', 'bad', new Uint8Array([1, 2, 3]));
      raw.close();
      assert.deepEqual(await cache.getMany('m', ['bad']), [undefined]);
      assert.deepEqual(cache.stats(), { hits: 0, misses: 1 });
      await cache.close();
    });
  });
}
