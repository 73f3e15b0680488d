import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from '../../connectors/blobstore/blobstore.ts';
import { createLocalDirBlobStore } from '../../connectors/blobstore/local-dir.ts';
import { createS3BlobStore, type S3BlobStoreConfig } from '../../connectors/blobstore/s3.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { blobStoreContract, type BlobStoreFixture } from './blobstore.contract.ts';

const s3Base = {
  endpoint: `http://127.0.0.1:${stack.ports.s3}`,
  region: 'us-east-1',
  accessKeyId: stack.s3.accessKey,
  secretAccessKey: stack.s3.secretKey,
  forcePathStyle: true,
} satisfies Partial<S3BlobStoreConfig>;

async function localFixture(): Promise<BlobStoreFixture & { root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'ragline-blobs-'));
  return { root, store: createLocalDirBlobStore({ root }), dispose: () => rm(root, { recursive: true, force: true }) };
}

async function s3Fixture(prefix?: string): Promise<BlobStoreFixture> {
  const bucket = uniqueName('blobs');
  const store = createS3BlobStore({ ...s3Base, bucket, prefix });
  await store.ensureBucket();
  return {
    store,
    async dispose() {
      const cleaner = createS3BlobStore({ ...s3Base, bucket });
      await cleaner.deletePrefix('');
      await cleaner.close();
      const raw = new S3Client({
        endpoint: s3Base.endpoint,
        region: s3Base.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3Base.accessKeyId, secretAccessKey: s3Base.secretAccessKey },
      });
      await raw.send(new DeleteBucketCommand({ Bucket: bucket }));
      raw.destroy();
    },
  };
}

blobStoreContract('local dir', localFixture);
// With a key prefix, so the prefix is added on the way in and stripped on the way out everywhere.
blobStoreContract('S3 (versitygw)', () => s3Fixture('tenant-artifacts/v1'));

function isConnectorError(type: FailureType, retryable: boolean) {
  return (err: unknown) => err instanceof ConnectorError && err.type === type && err.retryable === retryable;
}

// Both stores keep keys as POSIX files (versitygw's POSIX backend does too), so a key cannot also be a folder.
for (const [name, make] of [
  ['local dir', localFixture],
  ['S3 (versitygw)', () => s3Fixture()],
] as const) {
  describe(`BlobStore key collisions: ${name}`, () => {
    let fx: BlobStoreFixture;
    let store: BlobStore;
    before(async () => {
      fx = await make();
      store = fx.store;
    });
    after(async () => {
      await store?.close();
      await fx?.dispose();
    });

    it('reports a key under an existing key, and a key over existing keys, as InvalidInput', async () => {
      await store.put('c/file', 'x');
      await assert.rejects(store.put('c/file/child', 'y'), isConnectorError(FailureType.InvalidInput, false));
      await store.put('d/folder/child', 'x');
      await assert.rejects(store.put('d/folder', 'y'), isConnectorError(FailureType.InvalidInput, false));
      assert.equal(await store.exists('c/file'), true);
      assert.equal(await store.exists('d/folder/child'), true);
    });
  });
}

describe('local dir BlobStore on disk', () => {
  let fx: Awaited<ReturnType<typeof localFixture>>;
  before(async () => (fx = await localFixture()));
  after(async () => fx?.dispose());

  it('leaves no temp files and prunes emptied folders', async () => {
    await fx.store.put('a/b/c/one', 'x');
    await fx.store.put('a/b/two', 'y');
    await assert.rejects(
      fx.store.put(
        'a/b/failed',
        (async function* () {
          yield 'partial';
          throw new Error('boom');
        })(),
      ),
    );
    assert.deepEqual((await readdir(join(fx.root, 'a', 'b'))).sort(), ['c', 'two']);
    await fx.store.delete('a/b/c/one');
    assert.deepEqual(await readdir(join(fx.root, 'a', 'b')), ['two']);
    assert.equal(await fx.store.deletePrefix('a/'), 1);
    assert.deepEqual(await readdir(fx.root), []);
  });
});

describe('S3 BlobStore failures', () => {
  it('ensureBucket creates a missing bucket and is idempotent', async () => {
    const fx = await s3Fixture();
    try {
      await (fx.store as ReturnType<typeof createS3BlobStore>).ensureBucket();
      await fx.store.put('k', 'v');
      assert.equal(await fx.store.exists('k'), true);
    } finally {
      await fx.store.close();
      await fx.dispose();
    }
  });

  it('a missing bucket is InvalidInput that names ensureBucket', async () => {
    const store = createS3BlobStore({ ...s3Base, bucket: uniqueName('absent') });
    try {
      await assert.rejects(store.put('k', 'v'), (err: unknown) => {
        return isConnectorError(FailureType.InvalidInput, false)(err) && /ensureBucket/.test((err as Error).message);
      });
    } finally {
      await store.close();
    }
  });

  it('wrong credentials are InvalidInput, not retried', async () => {
    const bad = createS3BlobStore({ ...s3Base, bucket: uniqueName('any'), secretAccessKey: 'not-the-secret' });
    try {
      await assert.rejects(bad.get('k'), (err: unknown) => {
        return isConnectorError(FailureType.InvalidInput, false)(err) && /access denied/.test((err as Error).message);
      });
    } finally {
      await bad.close();
    }
  });

  it('an unreachable server is Unavailable and retryable', async () => {
    // Port 9 (discard) has no listener on the test machine: the connection is refused at once.
    const store = createS3BlobStore({ ...s3Base, endpoint: 'http://127.0.0.1:9', bucket: 'nowhere' });
    try {
      await assert.rejects(store.get('k'), isConnectorError(FailureType.Unavailable, true));
      await assert.rejects(store.put('k', 'v'), isConnectorError(FailureType.Unavailable, true));
    } finally {
      await store.close();
    }
  });
});
