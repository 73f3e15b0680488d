import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { restartService } from '../support/faults.ts';
import { createTopic, deleteTopic, produceWithConsoleProducer, readTopic, topicEndOffsets } from '../support/kafka-tools.ts';
import {
  countS3Requests,
  markS3AccessLog,
  readS3AccessLog,
  s3DeleteWithPlainClient,
  s3PutWithPlainClient,
} from '../support/s3-tools.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';

const s3 = new S3Client({
  endpoint: `http://127.0.0.1:${stack.ports.s3}`,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: stack.s3.accessKey, secretAccessKey: stack.s3.secretKey },
});

async function getText(bucket: string, key: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await res.Body?.transformToString('utf8')) ?? '';
}

/** Keys of S3 events for `bucket` published after `since`. */
async function eventKeys(bucket: string, since: Map<number, bigint>): Promise<Array<[string, string]>> {
  const records = await readTopic(stack.s3.eventTopic, { after: since });
  return records.flatMap((r) => {
    const body = JSON.parse(r.value ?? '{}') as {
      Records?: Array<{ eventName: string; s3: { bucket: { name: string }; object: { key: string } } }>;
    };
    return (body.Records ?? [])
      .filter((e) => e.s3.bucket.name === bucket)
      .map((e): [string, string] => [e.eventName, e.s3.object.key]);
  });
}

after(() => s3.destroy());

describe("Kafka's console producer", () => {
  const topic = uniqueName('plain-console');
  before(() => createTopic(topic, 3));
  after(() => deleteTopic(topic));

  it('sends keyed records, tombstones and awkward text in one process, read back with kafkajs', async () => {
    const special = [
      { key: 'doc a', value: 'v1 ü 日本 \t tab, "quotes", = and :' },
      { key: 'doc a', value: null },
      { key: 'k=b:c\\d', value: '' },
      { key: '', value: 'empty key' },
    ];
    const bulk = Array.from({ length: 300 }, (_, i) => ({ key: `doc-${i % 7}`, value: `bulk-${i}` }));
    await produceWithConsoleProducer({ topic, records: [...special, ...bulk] });

    const got = await readTopic(topic);
    assert.equal(got.length, special.length + bulk.length);
    const byKey = (k: string) => got.filter((r) => r.key === k).map((r) => r.value);
    assert.deepEqual(byKey('doc a'), ['v1 ü 日本 \t tab, "quotes", = and :', null]);
    assert.equal(got.find((r) => r.key === 'doc a' && r.value === null)?.value, null, 'the tombstone has a null value');
    assert.deepEqual(byKey('k=b:c\\d'), ['']);
    assert.deepEqual(byKey(''), ['empty key']);
    // One key, one partition, in send order: what keeps a document's events ordered.
    for (let k = 0; k < 7; k++) {
      const mine = got.filter((r) => r.key === `doc-${k}`);
      assert.equal(new Set(mine.map((r) => r.partition)).size, 1);
      assert.deepEqual(
        mine.map((r) => r.value),
        bulk.filter((b) => b.key === `doc-${k}`).map((b) => b.value),
      );
    }
  });

  it('refuses a record with a line break instead of splitting it', async () => {
    await assert.rejects(produceWithConsoleProducer({ topic, records: [{ key: 'a', value: 'two\nlines' }] }), /line breaks/);
  });
});

describe('the AWS CLI as a plain S3 client', () => {
  const bucket = uniqueName('plain-s3');
  before(() => s3.send(new CreateBucketCommand({ Bucket: bucket })));

  // versitygw's posix backend stores a key as a path: each `/`-separated segment is one file name, at most 255 bytes.
  const segment = (unit: string, bytes: number) => unit.repeat(Math.floor(bytes / Buffer.byteLength(unit)));
  const longKey = [segment('a', 250), segment('é', 250), segment('日', 249), segment('z', 248)].join('/');

  const keys = ['with spaces/and+plus.txt', 'a+b=c&d;e,f@g$h!i(j)k%41.txt', 'Ünïcödé/日本語/😀.md', '-leading-dash', longKey];

  it('puts objects with awkward keys that our SDK reads back byte for byte, then deletes them', async () => {
    assert.equal(Buffer.byteLength(longKey), 1000);
    for (const [i, key] of keys.entries()) {
      const { etag } = await s3PutWithPlainClient({ bucket, key, body: `body ${i} ü` });
      assert.match(etag, /^[0-9a-f]{32}$/);
    }
    for (const [i, key] of keys.entries()) assert.equal(await getText(bucket, key), `body ${i} ü`, key);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(listed.Contents?.map((o) => o.Key).sort(), [...keys].sort());

    for (const key of keys) await s3DeleteWithPlainClient({ bucket, key });
    for (const key of keys)
      await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), { name: 'NotFound' }, key);
  });

  it('takes a body from a file, and fails with the server error for a key segment over 255 bytes', async () => {
    const file = new URL(import.meta.url).pathname;
    await s3PutWithPlainClient({ bucket, key: 'from-file.ts', file, contentType: 'text/plain' });
    assert.match(await getText(bucket, 'from-file.ts'), /the AWS CLI as a plain S3 client/);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'from-file.ts' }));
    await assert.rejects(s3PutWithPlainClient({ bucket, key: 'k'.repeat(1000), body: 'x' }), /KeyTooLongError/);
  });
});

describe("the S3 server's access log", () => {
  const bucket = uniqueName('plain-log');
  const other = uniqueName('plain-log-other');

  it('counts exactly the GetObject requests of a window, per bucket, apart from HEAD and LIST', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new CreateBucketCommand({ Bucket: other }));
    await s3PutWithPlainClient({ bucket, key: 'a b+ü.txt', body: 'a' });
    await s3PutWithPlainClient({ bucket: other, key: 'b.txt', body: 'b' });

    const mark = markS3AccessLog();
    for (let i = 0; i < 5; i++) await getText(bucket, 'a b+ü.txt');
    await getText(other, 'b.txt');
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a b+ü.txt' }));
    await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    await assert.rejects(getText(bucket, 'missing.txt'), { name: 'NoSuchKey' });

    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket }), 6, 'five reads and one miss');
    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket, status: 200 }), 5);
    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket, key: 'a b+ü.txt' }), 5);
    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket: other }), 1);
    assert.equal(countS3Requests(mark, { operation: 'HeadObject', bucket }), 1);
    assert.equal(countS3Requests(mark, { operation: 'ListObjectsV2', bucket }), 1);
    assert.equal(countS3Requests(mark, { bucket }), 8);
    assert.match(readS3AccessLog(mark, { operation: 'GetObject', bucket })[0]?.userAgent ?? '', /aws-sdk-js/);

    const quiet = markS3AccessLog();
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a b+ü.txt' }));
    assert.equal(countS3Requests(quiet, { operation: 'GetObject' }), 0, 'a window with no GETs counts zero');
  });
});

describe('restarting Kafka under the running stack', () => {
  const bucket = uniqueName('plain-restart');
  const topic = uniqueName('plain-restart');

  it('brings the broker back healthy; the console producer and the S3 gateway publish to it again', async (t) => {
    await createTopic(topic, 3);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const before = await topicEndOffsets(stack.s3.eventTopic);

    // restartService also waits until the gateway's events flow again (its writer drops events for a while).
    const { downForMs, s3EventsLost } = await restartService('kafka', { topics: [topic, stack.s3.eventTopic] });
    assert.ok(downForMs > 0);
    t.diagnostic(`kafka down for ${downForMs} ms; S3 gateway dropped ${s3EventsLost} probe event(s) after the restart`);

    await produceWithConsoleProducer({ topic, records: [{ key: 'after', value: 'restart' }] });
    assert.deepEqual(
      (await readTopic(topic)).map((r) => [r.key, r.value]),
      [['after', 'restart']],
    );

    // The gateway's Kafka writer reconnected by itself (no gateway restart): an object put now gets its event.
    await s3PutWithPlainClient({ bucket, key: 'after restart.txt', body: 'x' });
    const events = await eventually(
      async () => {
        const keys = await eventKeys(bucket, before);
        return keys.some(([, k]) => k === 'after restart.txt') ? keys : undefined;
      },
      20_000,
      'the S3 event of an object put after the Kafka restart',
    );
    // versitygw puts the key in the event as it is, not URL-encoded as AWS does.
    assert.deepEqual(events, [['s3:ObjectCreated:Put', 'after restart.txt']]);
    await deleteTopic(topic);
  });
});
