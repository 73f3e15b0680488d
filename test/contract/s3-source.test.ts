import assert from 'node:assert/strict';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { after, before, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { createS3Source } from '../../connectors/sources/s3.ts';
import { stack, uniqueName } from '../support/stack.ts';

const endpoint = `http://127.0.0.1:${stack.ports.s3}`;
const credentials = { accessKeyId: stack.s3.accessKey, secretAccessKey: stack.s3.secretKey };
const forbidden = (err: unknown) =>
  err instanceof ConnectorError &&
  err.type === FailureType.SourceForbidden &&
  !err.retryable &&
  /source\.s3\.buckets/.test(err.message);

describe('S3 source confined to buckets (local S3 server)', () => {
  const allowed = uniqueName('confined');
  const other = uniqueName('other');
  const admin = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  const config = { endpoint, forcePathStyle: true, ...credentials };

  before(async () => {
    for (const bucket of [allowed, other]) {
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      for (const key of ['docs/a.txt', 'private/b.txt']) {
        await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${bucket}/${key}` }));
      }
    }
  });
  after(() => admin.destroy());

  it('a bucket entry allows the whole bucket and nothing else, though the credentials reach both', async () => {
    const source = createS3Source({ ...config, buckets: [allowed] });
    const listed = await source.list(`s3://${allowed}/`, { pageSize: 10 });
    assert.deepEqual(listed.items.map((i) => i.uri).sort(), [`s3://${allowed}/docs/a.txt`, `s3://${allowed}/private/b.txt`]);
    await assert.rejects(source.list(`s3://${other}/`, { pageSize: 10 }), forbidden);
    await assert.rejects(source.open(`s3://${other}/docs/a.txt`), forbidden);
    await assert.rejects(source.stat(`s3://${other}/docs/a.txt`), forbidden);
    // The same credentials do read the other bucket: the refusal is ours, made before any request.
    const open = createS3Source(config);
    assert.equal((await open.stat(`s3://${other}/docs/a.txt`)).size, `${other}/docs/a.txt`.length);
    await Promise.all([source.close(), open.close()]);
  });

  it('a bucket/prefix entry allows keys under the prefix only', async () => {
    const source = createS3Source({ ...config, buckets: [`${allowed}/docs/`] });
    assert.equal((await source.stat(`s3://${allowed}/docs/a.txt`)).size, `${allowed}/docs/a.txt`.length);
    assert.equal((await source.list(`s3://${allowed}/docs/`, { pageSize: 10 })).items.length, 1);
    await assert.rejects(source.stat(`s3://${allowed}/private/b.txt`), forbidden);
    await assert.rejects(source.list(`s3://${allowed}/`, { pageSize: 10 }), forbidden, 'a wider listing is refused');
    await assert.rejects(source.open(`s3://${allowed}/docs`), forbidden, 'the prefix is compared exactly');
    await source.close();
  });

  it('no entries refuses everything; * allows every bucket', async () => {
    const none = createS3Source({ ...config, buckets: [] });
    await assert.rejects(none.stat(`s3://${allowed}/docs/a.txt`), forbidden);
    const any = createS3Source({ ...config, buckets: ['*'] });
    assert.equal((await any.stat(`s3://${other}/private/b.txt`)).size, `${other}/private/b.txt`.length);
    await Promise.all([none.close(), any.close()]);
  });
});
