import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { validatePipelineSpec } from '../../pipeline/spec.ts';
import { startTrigger, type RunningTrigger } from '../../workers/trigger.ts';
import { s3DeleteWithPlainClient, s3PutWithPlainClient } from '../support/s3-tools.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';
import { Harness } from './support.ts';

// Objects put to and removed from the S3 server with the AWS CLI (not our client) appear in and disappear from the
// sink with no command run: the S3 server publishes object events to Kafka, the trigger routes them by bucket and
// prefix. Keys with spaces, '+', Unicode and over 1,000 bytes round-trip exactly.

const KEYS = [
  'inbox/plain.txt',
  'inbox/with space and+plus.txt',
  'inbox/ünïcödé 日本語 %41.md',
  `inbox/${'long-segment-name-'.repeat(12)}/${'x'.repeat(200)}/${'y'.repeat(200)}/${'z'.repeat(200)}/${'w'.repeat(240)}.txt`,
];

describe('S3 object events from a plain S3 client reach the sinks with no command run', () => {
  const h = new Harness({ embedder: { kind: 'hash', dims: 64 } });
  let connection: Connection;
  let trigger: RunningTrigger | undefined;

  before(async () => {
    await h.start();
    h.spec = validatePipelineSpec({
      ...h.spec,
      triggers: [
        // Only new events: the shared topic holds other runs' history.
        {
          kind: 's3-events',
          topic: stack.s3.eventTopic,
          bucket: h.bucket,
          prefix: 'inbox/',
          groupId: uniqueName('s3'),
          startFrom: 'latest',
        },
      ],
    });
    connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
    const client = new Client({ connection, namespace: stack.temporalNamespace });
    trigger = await startTrigger({ specs: [h.spec], client, brokers: [`127.0.0.1:${stack.ports.kafka}`], log: () => undefined });
    // 'latest' starts where the group joins: probe until an object put now is seen, then the test's puts are too.
    for (let n = 0; ; n++) {
      await s3PutWithPlainClient({ bucket: h.bucket, key: `inbox/probe-${n}.txt`, body: 'probe' });
      const seen = await eventually(
        async () => (await h.ledger.get(h.spec.tenant, h.uri(`inbox/probe-${n}.txt`))) ?? undefined,
        5_000,
      ).catch(() => undefined);
      if (seen) break;
      if (n === 10) throw new Error('the trigger saw none of 10 probe objects');
    }
  });
  after(async () => {
    await trigger?.stop();
    await h.dropIndexes();
    await connection?.close();
    await h.stop();
  });

  it('a put makes the document searchable; a delete removes it; other prefixes are left alone', async () => {
    assert.ok(Buffer.byteLength(KEYS[3]!) > 1000);
    for (const [i, key] of KEYS.entries()) {
      await s3PutWithPlainClient({
        bucket: h.bucket,
        key,
        body: `Object ${i} about tide tables and harbour charts. `.repeat(12),
      });
    }
    await s3PutWithPlainClient({ bucket: h.bucket, key: 'elsewhere/ignored.txt', body: 'not under the prefix' });
    for (const key of KEYS) {
      const ids = await eventually(
        async () => {
          const got = await h.sinkIds(key);
          return got.length > 0 ? got : undefined;
        },
        60_000,
        `chunks of ${key}`,
      );
      const rec = await eventually(async () => {
        const r = await h.ledger.get(h.spec.tenant, h.uri(key));
        return r?.status === 'ingested' ? r : undefined;
      });
      assert.deepEqual(ids, [...rec.chunkIds].sort(), key);
    }
    assert.equal(await h.ledger.get(h.spec.tenant, h.uri('elsewhere/ignored.txt')), undefined);

    for (const key of KEYS.slice(1)) await s3DeleteWithPlainClient({ bucket: h.bucket, key });
    for (const key of KEYS.slice(1)) {
      await eventually(async () => ((await h.sinkIds(key)).length === 0 ? true : undefined), 60_000, `${key} removed`);
      await eventually(async () => ((await h.ledger.get(h.spec.tenant, h.uri(key)))?.status === 'deleted' ? true : undefined));
    }
    assert.ok((await h.sinkIds(KEYS[0]!)).length > 0, 'the object still there stays');
  });
});
