import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { createLocalDirBlobStore } from '../connectors/blobstore/local-dir.ts';
import { createSqliteLedger } from '../connectors/ledger/sqlite.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import type { PipelineRef } from '../workflows/types.ts';
import type { PipelineDeps } from './deps.ts';
import { commitDocument, recordCancelled, recordDeleted } from './ledger.ts';
import type { WorkRef } from './work.ts';

const root = await mkdtemp(join(tmpdir(), 'ragline-commit-'));
const blobs = createLocalDirBlobStore({ root: join(root, 'blobs') });
const ledger = createSqliteLedger({ path: join(root, 'ledger.db') }, { pipeline: 'p', version: 1 });
after(async () => {
  await blobs.close();
  await ledger.close();
  await rm(root, { recursive: true, force: true });
});

const pipeline: PipelineRef = {
  name: 'p',
  version: 1,
  tenant: 't',
  sinks: ['chroma'],
  ingestQueue: 'q',
  embedQueue: 'e',
  fingerprint: 'f',
};
const deps = { blobs, ledger } as unknown as PipelineDeps;

async function work(prefix: string, hash: string): Promise<WorkRef> {
  const chunksKey = `${prefix}/chunks.jsonl`;
  const lines = ['a', 'b'].map((id, i) =>
    JSON.stringify({ i, id: `${hash}-${id}`, start: 0, end: 1, tokens: 1, hash: id, text: id }),
  );
  await blobs.put(chunksKey, Readable.from([lines.join('\n') + '\n']));
  return { prefix, contentHash: hash, bytes: 2, chunksKey, sourceVersion: `etag-${hash}` };
}

describe('commitDocument', () => {
  it('a retry after a kill between the ledger write and the artifacts removal succeeds and changes nothing', async () => {
    const w = await work('work/t/doc/run-1', 'h1');
    const input = { pipeline, sourceUri: 's3://b/doc', work: w, sinks: { chroma: { ok: true, upserted: 2 } } };
    await commitDocument(deps, input);
    const first = await ledger.get('t', 's3://b/doc');
    assert.deepEqual(first?.chunkIds, ['h1-a', 'h1-b']);
    // The artifacts are gone (the first attempt removed them); the retry must not fail the document.
    await commitDocument(deps, input);
    assert.deepEqual(await ledger.get('t', 's3://b/doc'), first);
  });

  it('missing artifacts of work the ledger does not hold are still an error', async () => {
    const w = await work('work/t/doc/run-2', 'h2');
    await blobs.deletePrefix('work/t/doc/run-2/');
    await assert.rejects(
      commitDocument(deps, { pipeline, sourceUri: 's3://b/doc', work: w, sinks: { chroma: { ok: true, upserted: 2 } } }),
      (err: unknown) => err instanceof ConnectorError && err.type === FailureType.NotFound,
    );
  });
});

describe('recordCancelled', () => {
  const startedAt = () => new Date(Date.now() - 1000).toISOString();

  it('a new document is recorded cancelled, with no chunks and a Cancelled reason', async () => {
    await recordCancelled(deps, { pipeline, sourceUri: 's3://b/new', startedAt: startedAt() });
    const rec = await ledger.get('t', 's3://b/new');
    assert.deepEqual([rec?.status, rec?.chunkIds, rec?.contentHash, rec?.lastError?.type], ['cancelled', [], null, 'Cancelled']);
  });

  it('a document ingested before keeps its chunks and hash (the sinks still hold them); only its status changes', async () => {
    const w = await work('work/t/kept/run-1', 'k1');
    await commitDocument(deps, { pipeline, sourceUri: 's3://b/kept', work: w, sinks: { chroma: { ok: true, upserted: 2 } } });
    const before = await ledger.get('t', 's3://b/kept');
    // The cancelled batch began after that commit.
    const begun = new Date(Date.now() + 5).toISOString();
    await recordCancelled(deps, { pipeline, sourceUri: 's3://b/kept', startedAt: begun });
    const after = await ledger.get('t', 's3://b/kept');
    assert.equal(after?.status, 'cancelled');
    assert.deepEqual(
      [after?.chunkIds, after?.contentHash, after?.sinks.chroma?.state],
      [before?.chunkIds, before?.contentHash, 'ok'],
    );
  });

  it('leaves a deleted document deleted, and an outcome written after the batch began untouched', async () => {
    await recordDeleted({ ...deps, sinks: new Map() } as unknown as PipelineDeps, {
      pipeline: { ...pipeline, sinks: [] },
      sourceUri: 's3://b/gone',
    });
    await recordCancelled(deps, { pipeline, sourceUri: 's3://b/gone', startedAt: startedAt() });
    assert.equal((await ledger.get('t', 's3://b/gone'))?.status, 'deleted');

    const begun = startedAt();
    const w = await work('work/t/done/run-1', 'd1');
    await commitDocument(deps, { pipeline, sourceUri: 's3://b/done', work: w, sinks: { chroma: { ok: true, upserted: 2 } } });
    await recordCancelled(deps, { pipeline, sourceUri: 's3://b/done', startedAt: begun });
    assert.equal((await ledger.get('t', 's3://b/done'))?.status, 'ingested');
  });
});
