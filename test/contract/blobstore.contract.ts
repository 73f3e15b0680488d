import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { BlobStore } from '../../connectors/blobstore/blobstore.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';

export interface BlobStoreFixture {
  store: BlobStore;
  /** Removes whatever the run left behind (temp folder, bucket). */
  dispose(): Promise<void>;
}

const MB = 1024 * 1024;

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

async function sha256Of(s: Readable): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of s) {
    h.update(c as Uint8Array);
    bytes += (c as Uint8Array).length;
  }
  return { hex: h.digest('hex'), bytes };
}

/** `total` bytes of random data in `chunk`-sized pieces, hashed as they go; nothing keeps the whole body. */
function randomBody(total: number, chunk: number, hash = createHash('sha256')) {
  async function* gen(): AsyncGenerator<Uint8Array> {
    for (let sent = 0; sent < total; sent += chunk) {
      const piece = randomBytes(Math.min(chunk, total - sent));
      hash.update(piece);
      // Yield to the event loop between pieces, so concurrent writers really interleave.
      await new Promise((r) => setImmediate(r));
      yield piece;
    }
  }
  return { body: gen(), digest: () => hash.digest('hex') };
}

async function rejectsWith(p: Promise<unknown> | (() => unknown), type: FailureType): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (err: unknown) => err instanceof ConnectorError && err.type === type,
  );
}

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of it) out.push(k);
  return out;
}

/** The behaviour every BlobStore shares. Each case writes under its own key folder, so one store serves them all. */
export function blobStoreContract(name: string, factory: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fx: BlobStoreFixture;
    let store: BlobStore;

    before(async () => {
      fx = await factory();
      store = fx.store;
    });
    after(async () => {
      await fx?.store.close();
      await fx?.dispose();
    });

    it('round-trips a string as UTF-8 and reports its byte count', async () => {
      const text = 'héllo, wörld ✓ 𝄞\n'.repeat(100);
      assert.deepEqual(await store.put('str/doc.txt', text), { bytes: Buffer.byteLength(text) });
      assert.equal((await readAll(await store.get('str/doc.txt'))).toString('utf8'), text);
    });

    it('round-trips a Buffer and a Uint8Array view into a larger buffer', async () => {
      const buf = randomBytes(300_000);
      assert.deepEqual(await store.put('buf/a.bin', buf), { bytes: buf.length });
      assert.ok((await readAll(await store.get('buf/a.bin'))).equals(buf));

      const view = new Uint8Array(buf.buffer, buf.byteOffset + 10, 1000);
      assert.deepEqual(await store.put('buf/view.bin', view), { bytes: 1000 });
      assert.ok((await readAll(await store.get('buf/view.bin'))).equals(buf.subarray(10, 1010)));
    });

    it('round-trips a Readable of mixed string and byte chunks', async () => {
      const parts = ['first,', Buffer.from('second,'), new TextEncoder().encode('third ✓')];
      const expected = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
      assert.deepEqual(await store.put('readable/r.txt', Readable.from(parts)), { bytes: expected.length });
      assert.ok((await readAll(await store.get('readable/r.txt'))).equals(expected));
    });

    it('streams a 20 MB async generator in and out intact', async () => {
      const total = 20 * MB;
      const { body, digest } = randomBody(total, 256 * 1024);
      assert.deepEqual(await store.put('big/twenty.bin', body), { bytes: total });
      assert.deepEqual(await sha256Of(await store.get('big/twenty.bin')), { hex: digest(), bytes: total });
    });

    it('puts an empty body', async () => {
      assert.deepEqual(await store.put('empty/zero', ''), { bytes: 0 });
      assert.equal((await readAll(await store.get('empty/zero'))).length, 0);
      assert.equal(await store.exists('empty/zero'), true);
    });

    it('overwrite replaces the whole previous value', async () => {
      await store.put('over/k', 'a much longer first value');
      await store.put('over/k', 'short');
      assert.equal((await readAll(await store.get('over/k'))).toString(), 'short');
    });

    it('get of a missing key throws a NotFound ConnectorError', async () => {
      await rejectsWith(store.get('missing/nothing-here'), FailureType.NotFound);
      // A name that is only the folder of other keys is not a key either.
      await store.put('missing/dir/leaf', 'x');
      await rejectsWith(store.get('missing/dir'), FailureType.NotFound);
      const err = await store.get('missing/nothing-here').catch((e: unknown) => e);
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.retryable, true);
    });

    it('exists tells present from absent keys', async () => {
      await store.put('exists/yes', 'x');
      assert.equal(await store.exists('exists/yes'), true);
      assert.equal(await store.exists('exists/no'), false);
      assert.equal(await store.exists('exists'), false);
    });

    it('modifiedAt tells when a key was written, and NotFound for a missing one', async () => {
      const before = Date.now();
      await store.put('mtime/a', 'x');
      const at = (await store.modifiedAt('mtime/a')).getTime();
      // S3 keeps whole seconds: allow the second the write began in.
      assert.ok(at >= Math.floor(before / 1000) * 1000 && at <= Date.now() + 1000, `written at ${before}, says ${at}`);
      await rejectsWith(store.modifiedAt('mtime/missing'), FailureType.NotFound);
      await rejectsWith(store.modifiedAt('mtime'), FailureType.NotFound);
    });

    it('delete removes a key and is a no-op for a missing one', async () => {
      await store.put('del/a', 'x');
      await store.put('del/b', 'y');
      await store.delete('del/a');
      assert.equal(await store.exists('del/a'), false);
      assert.equal(await store.exists('del/b'), true);
      await store.delete('del/a');
      await store.delete('del/never');
    });

    it('deletePrefix removes only keys under that prefix and counts them', async () => {
      const keep = ['dp/ab', 'dp/b/1', 'dp/a-sibling'];
      const gone = ['dp/a/1', 'dp/a/2', 'dp/a/deep/3'];
      for (const k of [...keep, ...gone]) await store.put(k, k);
      assert.equal(await store.deletePrefix('dp/a/'), 3);
      for (const k of gone) assert.equal(await store.exists(k), false, k);
      for (const k of keep) assert.equal(await store.exists(k), true, k);
      assert.deepEqual(await collect(store.list('dp/')), ['dp/a-sibling', 'dp/ab', 'dp/b/1']);
      // A prefix is a string prefix, not only a folder: `dp/a` also covers `dp/ab` and `dp/a-sibling`.
      assert.equal(await store.deletePrefix('dp/a'), 2);
      assert.deepEqual(await collect(store.list('dp/')), ['dp/b/1']);
      assert.equal(await store.deletePrefix('dp/none/'), 0);
    });

    it('deletePrefix clears more keys than one listing page holds', async () => {
      const keys = Array.from({ length: 1005 }, (_, i) => `many/k${String(i).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'v')));
      await store.put('many-other/keep', 'v');
      assert.equal(await store.deletePrefix('many/'), 1005);
      assert.deepEqual(await collect(store.list('many')), ['many-other/keep']);
    });

    it('lists keys in byte order and filters by prefix', async () => {
      const keys = ['ls/a/b', 'ls/a-b', 'ls/a0', 'ls/B', 'ls/é', 'ls/a/a/z', 'ls/ab', 'ls/Z'];
      for (const k of [...keys].reverse()) await store.put(k, k);
      await store.put('lsx/other', 'x');
      const byteOrder = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual(await collect(store.list('ls/')), byteOrder);
      assert.deepEqual(await collect(store.list('ls/a')), ['ls/a-b', 'ls/a/a/z', 'ls/a/b', 'ls/a0', 'ls/ab']);
      assert.deepEqual(await collect(store.list('ls/a/')), ['ls/a/a/z', 'ls/a/b']);
      assert.deepEqual(await collect(store.list('ls/nothing/')), []);
      const all = await collect(store.list(''));
      assert.ok(all.includes('lsx/other') && all.includes('ls/B'));
      assert.deepEqual(
        all,
        [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
      );
    });

    it('rejects invalid keys and prefixes with InvalidInput, touching nothing', async () => {
      const bad = ['', '/abs', 'a/../b', '..', '.', 'a//b', 'a/', './a', 'a/.', 'a\\b', 'a\0b', 'x'.repeat(1100)];
      for (const key of bad) {
        await rejectsWith(store.put(key, 'x'), FailureType.InvalidInput);
        await rejectsWith(store.get(key), FailureType.InvalidInput);
        await rejectsWith(store.exists(key), FailureType.InvalidInput);
        await rejectsWith(store.delete(key), FailureType.InvalidInput);
      }
      for (const prefix of ['/', '../', 'a/../', 'a//']) {
        await rejectsWith(() => collect(store.list(prefix)), FailureType.InvalidInput);
        await rejectsWith(store.deletePrefix(prefix), FailureType.InvalidInput);
      }
      const err = await store.put('../escape', 'x').catch((e: unknown) => e);
      assert.ok(err instanceof ConnectorError && err.retryable === false);
    });

    it('a failing body rejects the put with its own error and leaves no object', async () => {
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(1000);
        throw new Error('source broke');
      }
      await assert.rejects(store.put('failing/k', failing()), /source broke/);
      assert.equal(await store.exists('failing/k'), false);
      assert.deepEqual(await collect(store.list('failing/')), []);
    });

    it('concurrent puts of one key leave exactly one complete value', async () => {
      const writers = Array.from({ length: 4 }, () => randomBody(9 * MB, 512 * 1024));
      await Promise.all(writers.map((w) => store.put('race/k', w.body)));
      const digests = writers.map((w) => w.digest());
      const got = await sha256Of(await store.get('race/k'));
      assert.equal(got.bytes, 9 * MB);
      assert.ok(digests.includes(got.hex), 'stored value is not any one writer’s body');
      assert.deepEqual(await collect(store.list('race/')), ['race/k']);
    });
  });
}
