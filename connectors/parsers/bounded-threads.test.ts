import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { failure } from '../../test/fixtures/parsers/documents.ts';
import { FailureType } from '../shared/errors.ts';
import { tooLarge } from './bytes.ts';
import { acquireThread, releaseThread, type ThreadKind } from './bounded-threads.ts';
import { MiB, peakRssGrowth } from './bounded-test-support.ts';

/** A thread that, asked, holds ever more heap objects (`heap`) or ArrayBuffers (`buffers`) in one synchronous loop. */
const HOG = `
import { parentPort } from 'node:worker_threads';
parentPort.on('message', (what) => {
  const held = [];
  for (let i = 0; i < 4096; i++) held.push(what === 'heap' ? Array.from({ length: 100_000 }, (_, j) => ({ j })) : new Uint8Array(MB).fill(1));
  parentPort.postMessage('survived');
});
const MB = 1024 * 1024;
`;
const dir = mkdtempSync(join(tmpdir(), 'ragline-threads-'));
writeFileSync(join(dir, 'hog.mjs'), HOG);
const HOG_THREAD: ThreadKind = {
  name: 'test',
  url: pathToFileURL(join(dir, 'hog.mjs')),
  heap: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
};

describe('bounded threads', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a thread that runs out of heap as DocumentTooLarge of that document, and the process goes on', async () => {
    const slot = await acquireThread<string, string>(HOG_THREAD);
    try {
      slot.send('heap');
      await assert.rejects(
        slot.inbox.next('heap.bin'),
        failure(
          FailureType.DocumentTooLarge,
          /heap\.bin is too large: parsing it needs more than 32 MB of memory \(limit the test heap = 32\)/,
        ),
      );
    } finally {
      await releaseThread(slot, false);
    }
  });

  it('ends a thread whose buffers pass their budget while it is inside synchronous code', async () => {
    const growth = await peakRssGrowth(async () => {
      const slot = await acquireThread<string, string>(HOG_THREAD);
      try {
        slot.limitExternalMemory(64 * MiB, () => tooLarge('buffers.bin', 'budget', 64, 'it decodes too much'));
        slot.send('buffers');
        await assert.rejects(slot.inbox.next('buffers.bin'), failure(FailureType.DocumentTooLarge, /limit budget = 64/));
      } finally {
        await releaseThread(slot, false);
      }
    });
    // Unbounded, the thread would hold 4 GiB.
    assert.ok(growth < 400 * MiB, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
  });
});
