import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DocumentRecord } from './ledger.ts';
import { createThreadedSqliteEmbeddingCache, createThreadedSqliteLedger } from './sqlite-thread.ts';

const record = (sourceUri: string): DocumentRecord => ({
  tenant: 't',
  sourceUri,
  status: 'ingested',
  contentHash: 'h',
  pipelineVersion: 'p@1',
  chunkIds: ['c1'],
  sinks: {},
  lastError: null,
  sourceVersion: null,
  eventAt: null,
  updatedAt: new Date(0).toISOString(),
});

describe('SQLite stores on their own thread', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'ragline-sqlite-thread-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('keeps the event loop running while another connection holds the write lock', async () => {
    const path = join(dir, 'locked.db');
    const ledger = createThreadedSqliteLedger({ path, busyTimeoutMs: 20_000 }, { pipeline: 'p', version: 1 });
    await ledger.put(record('file:///first'));
    // Another connection (standing for another worker process) takes the write lock.
    const other = new DatabaseSync(path, { timeout: 1_000 });
    other.exec('BEGIN IMMEDIATE');
    let putDone = false;
    const put = ledger.put(record('file:///second')).then(() => (putDone = true));
    // Timers still fire while the put waits for the lock: with the synchronous store this thread would sit in
    // SQLite's busy handler, no timer could run, and the lock (released only from here) would never be given back.
    let ticks = 0;
    for (let i = 0; i < 20; i++) {
      await sleep(10);
      ticks++;
    }
    assert.equal(ticks, 20);
    assert.equal(putDone, false, 'the put must wait for the lock');
    other.exec('COMMIT');
    other.close();
    await put;
    assert.equal((await ledger.get('t', 'file:///second'))?.status, 'ingested');
    await ledger.close();
  });

  it('answers every call after close with a typed error, and a closed store keeps no thread alive', async () => {
    const ledger = createThreadedSqliteLedger({ path: join(dir, 'closed.db') }, { pipeline: 'p', version: 1 });
    await ledger.put(record('file:///a'));
    await ledger.close();
    await assert.rejects(ledger.get('t', 'file:///a'), /closed/);
  });

  it('reports a store that cannot open as a typed error on the call, not a crash', async () => {
    await writeFile(join(dir, 'a-file'), 'not a folder');
    const cache = createThreadedSqliteEmbeddingCache({ path: join(dir, 'a-file', 'cache.db') });
    await assert.rejects(cache.getMany('m', ['h']), /EEXIST|ENOTDIR|unable to open/);
    // The thread survived its failed open: the next call gets the same answer, not a hang.
    await assert.rejects(cache.putMany('m', [{ hash: 'h', vector: new Float32Array([1]) }]));
    await cache.close();
  });

  it('serves version views of one ledger through one thread', async () => {
    const ledger = createThreadedSqliteLedger({ path: join(dir, 'views.db') }, { pipeline: 'p', version: 1 });
    const v2 = ledger.forVersion(2);
    await ledger.put(record('file:///v1'));
    await v2.put(record('file:///v2'));
    assert.equal((await ledger.get('t', 'file:///v2'))?.sourceUri, undefined);
    assert.equal((await v2.get('t', 'file:///v2'))?.sourceUri, 'file:///v2');
    assert.equal(v2.scope.version, 2);
    await v2.close(); // a view closes nothing
    assert.equal((await ledger.get('t', 'file:///v1'))?.sourceUri, 'file:///v1');
    await ledger.close();
  });
});
