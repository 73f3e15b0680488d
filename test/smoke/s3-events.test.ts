import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { stack, uniqueName } from '../support/stack.ts';

interface S3EventRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number } };
}

describe('S3 server with object events on Kafka', () => {
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${stack.ports.s3}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: stack.s3.accessKey, secretAccessKey: stack.s3.secretKey },
  });
  const bucket = uniqueName('smoke');
  const events: S3EventRecord[] = [];
  let consumer: Consumer;

  before(async () => {
    hideKafkajsTimerWarning();
    const kafka = new Kafka({ clientId: 'smoke', brokers: [`127.0.0.1:${stack.ports.kafka}`], logLevel: logLevel.NOTHING });
    consumer = kafka.consumer({ groupId: uniqueName('smoke-s3') });
    await consumer.connect();
    // Only events of this run's bucket are kept. Reading from the beginning, not the latest offset: a group that joins
    // while the broker is still settling (after a restart) resolves "latest" late and would miss the first events.
    await consumer.subscribe({ topic: stack.s3.eventTopic, fromBeginning: true });
    let joined!: () => void;
    const ready = new Promise<void>((r) => (joined = r));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      eachMessage: async ({ message }) => {
        const body = JSON.parse(message.value?.toString() ?? '{}') as { Records?: S3EventRecord[] };
        for (const r of body.Records ?? []) if (r.s3?.bucket?.name === bucket) events.push(r);
      },
    });
    await ready;
  });

  after(async () => {
    await consumer?.disconnect();
    s3.destroy();
  });

  async function waitForEvent(prefix: string, key: string): Promise<S3EventRecord> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const hit = events.find((e) => e.eventName.startsWith(`s3:${prefix}`) && e.s3.object.key === key);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`no ${prefix} event for ${key}; saw: ${JSON.stringify(events.map((e) => [e.eventName, e.s3.object.key]))}`);
  }

  it('puts, lists and gets an object, and publishes created and removed events', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const key = 'docs/hello.txt';
    const body = 'hello from the smoke test';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/plain' }));

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'docs/' }));
    assert.deepEqual(
      listed.Contents?.map((o) => [o.Key, o.Size]),
      [[key, Buffer.byteLength(body)]],
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(await got.Body?.transformToString(), body);

    const created = await waitForEvent('ObjectCreated:', key);
    assert.equal(created.s3.bucket.name, bucket);

    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await waitForEvent('ObjectRemoved:', key);
  });
});
