// The trigger on the real local Kafka, S3 server and Temporal: routing to versions and tenants, dead letters, retired
// versions, S3 notifications, and a Temporal outage that holds the partition back and commits nothing. No workers
// run: a signalled document workflow just waits for one, which is enough to read what the trigger sent it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel, type Admin, type KafkaMessage } from 'kafkajs';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { pipelineRef } from '../../pipeline/ref.ts';
import { indexAlias, indexName, validatePipelineSpec, type PipelineSpec } from '../../pipeline/spec.ts';
import { createLedger } from '../../workers/build-deps.ts';
import { startTrigger, type RunningTrigger, type TriggerOptions } from '../../workers/trigger.ts';
import { pipelineKey, sourceUriKey, tenantKey } from '../../workflows/search-attributes.ts';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import type { DocEvent } from '../../workflows/types.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';

hideKafkajsTimerWarning();
const brokers = [`127.0.0.1:${stack.ports.kafka}`];
const kafka = new Kafka({ clientId: 'e2e-trigger', brokers, logLevel: logLevel.NOTHING });
const quiet = () => undefined;

describe('trigger: Kafka and S3 events to document workflows', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ragline-trigger-'));
  const name = uniqueName('trg').slice(0, 30);
  const started = new Set<string>();
  const triggers: RunningTrigger[] = [];
  const topics: string[] = [];
  let admin: Admin;
  let connection: Connection;
  let client: Client;

  const spec = (version: number, triggersDecl: unknown[]): PipelineSpec =>
    validatePipelineSpec({
      name,
      version,
      tenant: 'acme',
      chunker: { kind: 'recursive', chunkSize: 64, chunkOverlap: 8 },
      embedder: { kind: 'hash' },
      sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
      blobStore: { kind: 'local-dir', root: join(dataDir, 'blobs') },
      ledger: { kind: 'sqlite', path: join(dataDir, 'ledger.sqlite') },
      triggers: triggersDecl,
    });

  before(async () => {
    admin = kafka.admin();
    await admin.connect();
    connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
    client = new Client({ connection, namespace: stack.temporalNamespace });
  });

  after(async () => {
    await Promise.allSettled(triggers.map((t) => t.stop()));
    await Promise.allSettled([...started].map((id) => client.workflow.getHandle(id).terminate('test done')));
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
    await connection.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function newTopic(partitions = 2): Promise<string> {
    const topic = uniqueName('trg-events');
    topics.push(topic, `${topic}.dlq`);
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    return topic;
  }

  async function produce(
    topic: string,
    messages: Array<{ key: string | null; value: string | null; headers?: Record<string, string> }>,
  ) {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();
  }

  async function start(opts: Partial<TriggerOptions> & Pick<TriggerOptions, 'specs'>): Promise<RunningTrigger> {
    const t = await startTrigger({ client, brokers, log: quiet, retry: { initialMs: 100, maxMs: 500 }, ...opts });
    triggers.push(t);
    return t;
  }

  /** The document events a workflow has been signalled with, read from its history. */
  async function signalsOf(workflowId: string): Promise<DocEvent[] | undefined> {
    started.add(workflowId);
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? [])
      .map((e) => e.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0]?.data)
      .filter((d): d is Uint8Array => d != null)
      .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as DocEvent);
  }

  async function exists(workflowId: string): Promise<boolean> {
    started.add(workflowId);
    return client.workflow
      .getHandle(workflowId)
      .describe()
      .then(() => true)
      .catch(() => false);
  }

  /** Reads a topic from the start until `enough` says so. */
  async function drain(topic: string, enough: (got: KafkaMessage[]) => boolean): Promise<KafkaMessage[]> {
    const got: KafkaMessage[] = [];
    // The trigger creates a dead-letter topic on its first letter: subscribing before then races its creation.
    await eventually(
      async () => {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
        return meta?.topics[0]?.partitions.every((p) => p.leader >= 0) ? true : undefined;
      },
      30_000,
      `topic ${topic} with leaders`,
    );
    const consumer = kafka.consumer({ groupId: uniqueName('trg-dlq-reader'), allowAutoTopicCreation: false });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message) });
    try {
      await eventually(async () => (enough(got) ? true : undefined), 30_000, `messages on ${topic}`);
    } finally {
      await consumer.disconnect();
    }
    return got;
  }

  async function committedTotal(groupId: string, topic: string): Promise<number> {
    const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return res!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  }

  const header = (m: KafkaMessage, h: string) => m.headers?.[h]?.toString();

  it('routes to every live version and tenant, skips a retired version, and dead-letters what nobody takes', async () => {
    const topic = await newTopic();
    const groupId = uniqueName('trg-group');
    const decl = [{ kind: 'kafka', topic, groupId, tenants: ['acme', 'globex'] }];
    const [v1, v2, v3] = [spec(1, decl), spec(2, decl), spec(3, decl)];
    const ledger = createLedger(v1);
    const at = new Date().toISOString();
    const record = { alias: indexAlias(v1), sink: 'chroma', chunks: 0, promotedAt: null, retireAfter: null, updatedAt: at };
    await ledger.putIndexVersion({ ...record, index: indexName(v1), state: 'retired' });
    await ledger.putIndexVersion({ ...record, index: indexName(v2), state: 'current' });
    await ledger.close();

    const event = (fields: Record<string, unknown>) => JSON.stringify({ schema: 'ragline.document-event/v1', ...fields });
    const long = `file:///${'a'.repeat(3000)}`;
    await produce(topic, [
      {
        key: 'file:///docs/a.md',
        value: event({
          op: 'upsert',
          uri: 'file:///docs/a.md',
          pipeline: name,
          tenant: 'globex',
          objectVersion: 'e1',
          timestamp: 1_700_000_000_000,
        }),
      },
      { key: 'file:///docs/b.md', value: event({ op: 'upsert', uri: 'file:///docs/b.md' }) },
      { key: 'file:///docs/b.md', value: null },
      { key: 'junk', value: '{"schema": "ragline.document-event/v1", ' },
      { key: 'file:///docs/c.md', value: event({ op: 'upsert', uri: 'file:///docs/c.md', pipeline: 'nobody' }) },
      { key: 'file:///docs/d.md', value: event({ op: 'upsert', uri: 'file:///docs/d.md', tenant: 'initech' }) },
      { key: long, value: event({ op: 'upsert', uri: long }) },
    ]);
    const trigger = await start({ specs: [v1, v2, v3] });
    assert.deepEqual(
      trigger.routes.map((r) => [r.version, r.topic, r.groupId, r.deadLetterTopic]),
      [1, 2, 3].map((v) => [v, topic, groupId, `${topic}.dlq`]),
    );

    const a2 = documentWorkflowId(pipelineRef(v2, 'globex'), 'file:///docs/a.md');
    assert.deepEqual(await eventually(() => signalsOf(a2).catch(() => undefined), 30_000, a2), [
      { kind: 'upsert', sourceVersion: 'e1', eventTime: 1_700_000_000_000 },
    ]);
    const a3 = documentWorkflowId(pipelineRef(v3, 'globex'), 'file:///docs/a.md');
    assert.equal((await eventually(() => signalsOf(a3).catch(() => undefined), 30_000, a3)).length, 1);
    const desc = await client.workflow.getHandle(a3).describe();
    assert.equal(desc.taskQueue, pipelineRef(v3).ingestQueue);
    assert.equal(desc.typedSearchAttributes.get(tenantKey), 'globex');
    assert.equal(desc.typedSearchAttributes.get(pipelineKey), `${name}-v3`);
    assert.equal(desc.typedSearchAttributes.get(sourceUriKey), 'file:///docs/a.md');

    // Order within the partition reaches the workflow: the upsert, then the tombstone's delete.
    const b2 = documentWorkflowId(pipelineRef(v2), 'file:///docs/b.md');
    const b2Signals = await eventually(
      async () => ((await signalsOf(b2).catch(() => []))!.length >= 2 ? signalsOf(b2) : undefined),
      30_000,
      b2,
    );
    assert.deepEqual(b2Signals, [{ kind: 'upsert' }, { kind: 'delete' }]);

    const letters = await drain(`${topic}.dlq`, (got) => got.length >= 5);
    const summary = letters.map((m) => [
      header(m, 'ragline-dlq-type'),
      m.key?.toString().slice(0, 20),
      header(m, 'ragline-dlq-pipeline') ?? '',
    ]);
    assert.deepEqual(
      summary.sort(),
      [
        ['MalformedEvent', 'junk', ''],
        ['RejectedByTemporal', long.slice(0, 20), `${name}-v2`],
        ['RejectedByTemporal', long.slice(0, 20), `${name}-v3`],
        ['UnroutableEvent', 'file:///docs/c.md', ''],
        ['UnroutableEvent', 'file:///docs/d.md', ''],
      ].sort(),
    );
    for (const m of letters) {
      assert.equal(header(m, 'ragline-original-topic'), topic);
      assert.match(header(m, 'ragline-original-partition') ?? '', /^[01]$/);
      assert.match(header(m, 'ragline-original-offset') ?? '', /^\d+$/);
      assert.ok((header(m, 'ragline-dlq-reason') ?? '').length > 0);
    }
    assert.match(
      header(
        letters.find((m) => m.key?.toString() === 'file:///docs/c.md')!,
        'ragline-dlq-reason',
      )!,
      /nobody/,
    );

    await eventually(async () => ((await committedTotal(groupId, topic)) === 7 ? true : undefined), 30_000, 'all 7 committed');
    // The retired version never got a workflow.
    assert.equal(await exists(documentWorkflowId(pipelineRef(v1, 'globex'), 'file:///docs/a.md')), false);
    assert.equal(await exists(documentWorkflowId(pipelineRef(v1), 'file:///docs/b.md')), false);
    const stats = trigger.stats();
    assert.equal(stats.signalled, 6);
    assert.equal(stats.deadLettered, 5);
    assert.equal(stats.skippedRetired, 4);
    await trigger.stop();
  });

  it('holds a partition back while Temporal is down, commits nothing, and resumes on the real server', async () => {
    const topic = await newTopic(1);
    const groupId = uniqueName('trg-group');
    // The first test retired version 1 of this pipeline in the shared ledger: use a version with no index records.
    const v4 = spec(4, [{ kind: 'kafka', topic, groupId }]);
    await produce(topic, [
      {
        key: 'file:///down/x.md',
        value: JSON.stringify({ schema: 'ragline.document-event/v1', op: 'upsert', uri: 'file:///down/x.md' }),
      },
    ]);

    // Nothing listens on port 1: every signal fails as unavailable or past its deadline.
    const down = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }), namespace: stack.temporalNamespace });
    try {
      const blocked = await start({ specs: [v4], client: down, signalTimeoutMs: 500 });
      await eventually(
        async () => (blocked.stats().retrying.some((r) => r.attempts >= 2) ? true : undefined),
        30_000,
        'retrying',
      );
      assert.equal(await committedTotal(groupId, topic), 0);
      assert.equal(blocked.stats().signalled, 0);
      assert.equal(blocked.stats().deadLettered, 0);
      await blocked.stop();
      assert.equal(await committedTotal(groupId, topic), 0);
    } finally {
      // A lazy connection keeps redialling (and the process alive) until closed.
      await down.connection.close();
    }

    const live = await start({ specs: [v4] });
    const id = documentWorkflowId(pipelineRef(v4), 'file:///down/x.md');
    assert.deepEqual(await eventually(() => signalsOf(id).catch(() => undefined), 30_000, id), [{ kind: 'upsert' }]);
    await eventually(async () => ((await committedTotal(groupId, topic)) === 1 ? true : undefined), 30_000, 'committed');
    await live.stop();
  });

  it('turns S3 notifications of a declared bucket and prefix into signals, with exact keys', async () => {
    const bucket = uniqueName('trg-s3');
    const deadLetterTopic = uniqueName('trg-s3-dlq');
    topics.push(deadLetterTopic);
    const v5 = spec(5, [
      {
        kind: 's3-events',
        topic: stack.s3.eventTopic,
        bucket,
        prefix: 'in/',
        groupId: uniqueName('trg-group'),
        deadLetterTopic,
        startFrom: 'latest',
      },
    ]);
    const trigger = await start({ specs: [v5] });
    const s3 = new S3Client({
      endpoint: `http://127.0.0.1:${stack.ports.s3}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: stack.s3.accessKey, secretAccessKey: stack.s3.secretKey },
    });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const key = `in/a b+c%41 ü/${'é'.repeat(100)}/日本語.txt`;
      const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello' }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'out/elsewhere.txt', Body: 'x' }));
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));

      const id = documentWorkflowId(pipelineRef(v5), `s3://${bucket}/${key}`);
      const signals = await eventually(
        async () => ((await signalsOf(id).catch(() => []))!.length >= 2 ? signalsOf(id) : undefined),
        30_000,
        id,
      );
      assert.deepEqual(
        signals.map((s) => [s.kind, s.sourceVersion, typeof s.eventTime]),
        [
          ['upsert', put.ETag!.replace(/"/g, ''), 'number'],
          ['delete', undefined, 'number'],
        ],
      );
      const desc = await client.workflow.getHandle(id).describe();
      assert.equal(desc.typedSearchAttributes.get(sourceUriKey), `s3://${bucket}/${key}`);

      // Other buckets' notifications share the stack's topic, and land here too: pick ours.
      const ours = (m: KafkaMessage) => m.value?.toString().includes(`${bucket}`) === true;
      const mine = (await drain(deadLetterTopic, (got) => got.some(ours))).filter(ours);
      assert.equal(mine.length, 1);
      assert.equal(header(mine[0]!, 'ragline-dlq-type'), 'UnroutableEvent');
      assert.match(header(mine[0]!, 'ragline-dlq-reason')!, /out\/elsewhere\.txt/);
    } finally {
      await trigger.stop();
      s3.destroy();
    }
  });
});
