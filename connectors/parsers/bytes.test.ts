import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { FailureType } from '../shared/errors.ts';
import { ByteSource } from './bytes.ts';

const bytes = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256));

/** A source sending `data` in pieces of `piece` bytes, declaring `declared` as its size. */
function source(data: Buffer, piece: number, declared?: number, maxBytes = 1 << 20): ByteSource {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += piece) parts.push(data.subarray(i, i + piece));
  return new ByteSource(Readable.from(parts), 'f.pdf', maxBytes, declared);
}

/** The whole buffer is the array's own: transferable to a thread without taking a shared pool with it. */
function ownsItsMemory(a: Uint8Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}

describe('ByteSource.readAll', () => {
  const data = bytes(10_000);

  for (const [what, declared] of [
    ['the declared size', 10_000],
    ['no declared size', undefined],
    ['a declared size smaller than what arrives', 4_000],
    ['a declared size larger than what arrives', 25_000],
  ] as const) {
    it(`returns every byte, in a buffer of its own, with ${what}`, async () => {
      const all = await source(data, 777, declared).readAll();
      assert.deepEqual(Buffer.from(all), data);
      assert.ok(ownsItsMemory(all));
    });
  }

  it('replays peeked bytes first', async () => {
    const s = source(data, 100, data.length);
    assert.deepEqual(Buffer.from(await s.peek(250)), data.subarray(0, 250));
    assert.deepEqual(Buffer.from(await s.readAll()), data);
  });

  it('stops at maxBytes whatever the declared size said', async () => {
    await assert.rejects(source(data, 1000, 500, 5_000).readAll(), (e: { type?: string }) => {
      assert.equal(e.type, FailureType.DocumentTooLarge);
      return true;
    });
  });
});
