import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { indexName, validatePipelineSpec } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { startTrigger, type RunningTrigger } from '../../workers/trigger.ts';
import { createTopic, produceWithConsoleProducer, readTopic } from '../support/kafka-tools.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';
import { Harness } from './support.ts';

// 1,000 events from Kafka's own console producer (not our client): upserts with duplicates, tombstones, deletes,
// malformed and unroutable events. The sinks must end holding exactly the current documents, and every refused event
// must sit in the dead-letter topic with its reason.

const DOCS = 150;
const brokers = [`127.0.0.1:${stack.ports.kafka}`];

describe('Kafka document events end as exactly the current documents in every sink', () => {
  const topic = uniqueName('doc-events');
  const h = new Harness({
    embedder: { kind: 'hash', dims: 64 },
    concurrency: { documents: 16, pageSize: 100 },
    sinks: [
      { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
      { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
    ],
  });
  let sinks: Map<string, Sink>;
  let connection: Connection;
  let client: Client;
  let trigger: RunningTrigger | undefined;
  const keyOf = (i: number) => `docs/doc ${String(i).padStart(3, '0')}+ü.txt`;

  before(async () => {
    h.spec = validatePipelineSpec({ ...h.spec, triggers: [{ kind: 'kafka', topic, groupId: uniqueName('trigger') }] });
    await h.start();
    sinks = await createSinks(h.spec);
    connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
    client = new Client({ connection, namespace: stack.temporalNamespace });
    await createTopic(topic, 4);
    await Promise.all(Array.from({ length: DOCS }, (_, i) => h.put(keyOf(i), `Document number ${i}. `.repeat(15 + (i % 9)))));
  });
  after(async () => {
    await trigger?.stop();
    await h.dropIndexes(sinks?.values());
    for (const sink of sinks?.values() ?? []) await sink.close();
    await connection?.close();
    await h.stop();
  });

  it('upserts, duplicates, deletes and tombstones from a plain producer; refused events go to the dead-letter topic', async () => {
    const records: Array<{ key: string | null; value: string | null }> = [];
    const event = (op: 'upsert' | 'delete', i: number, extra: Record<string, unknown> = {}) => ({
      key: h.uri(keyOf(i)),
      value: JSON.stringify({ schema: 'ragline.document-event/v1', op, uri: h.uri(keyOf(i)), ...extra }),
    });
    // Every document: an upsert, then redeliveries and repeats (5 events each = 750).
    for (let round = 0; round < 5; round++) for (let i = 0; i < DOCS; i++) records.push(event('upsert', i));
    // 30 documents are removed from the bucket: 15 by a delete event, 15 by a tombstone (130 events with repeats).
    const removed = Array.from({ length: 30 }, (_, i) => i * 5);
    for (const i of removed) await h.remove(keyOf(i));
    for (const [n, i] of removed.entries()) {
      for (let k = 0; k < 4; k++) records.push(n % 2 ? event('delete', i) : { key: h.uri(keyOf(i)), value: null });
    }
    // 120 events nobody may take: malformed JSON, an unknown schema, an unknown pipeline, an unknown tenant.
    const refused = 120;
    for (let k = 0; k < refused / 4; k++) {
      records.push({ key: `bad-${k}`, value: `{"schema": "ragline.document-event/v1", "op": "upsert", "uri": ` });
      records.push({
        key: `old-${k}`,
        value: JSON.stringify({ schema: 'ragline.document-event/v0', op: 'upsert', uri: 's3://x/y' }),
      });
      records.push(event('upsert', k, { pipeline: 'no-such-pipeline' }));
      records.push(event('upsert', k, { tenant: 'no-such-tenant' }));
    }
    // 10 more upserts carrying an event time.
    for (const i of [1, 2, 3, 4, 6, 7, 8, 9, 11, 12]) records.push(event('upsert', i, { timestamp: Date.now() }));
    assert.equal(records.length, 1000);
    await produceWithConsoleProducer({ topic, brokers, records });

    trigger = await startTrigger({ specs: [h.spec], client, brokers, log: () => undefined });
    await eventually(
      async () => (trigger!.stats().signalled === 880 && trigger!.stats().deadLettered === refused ? true : undefined),
      120_000,
      'every event signalled or dead-lettered',
    );
    // Every document workflow has finished applying its events.
    await eventually(
      async () => {
        const running = await client.workflow.count(`Pipeline = '${h.spec.name}-v1' AND ExecutionStatus = 'Running'`);
        return running.count === 0 ? true : undefined;
      },
      180_000,
      'document workflows done',
    );

    const live = new Set(Array.from({ length: DOCS }, (_, i) => i).filter((i) => !removed.includes(i)));
    let chunks = 0;
    for (let i = 0; i < DOCS; i++) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(keyOf(i)));
      assert.equal(rec?.status, live.has(i) ? 'ingested' : 'deleted', keyOf(i));
      for (const [name, sink] of sinks) {
        const ids = (await sink.idsOfDocument(indexName(h.spec), h.spec.tenant, h.uri(keyOf(i)))).sort();
        assert.deepEqual(ids, [...rec!.chunkIds].sort(), `${name} holds exactly the ledger's chunks of ${keyOf(i)}`);
      }
      chunks += rec!.chunkIds.length;
    }
    for (const [name, sink] of sinks) assert.equal(await sink.count(indexName(h.spec), { tenant: h.spec.tenant }), chunks, name);

    const dead = await readTopic(`${topic}.dlq`, { timeoutMs: 30_000 });
    assert.equal(dead.length, refused);
    const types = new Map<string, number>();
    for (const d of dead) {
      const type = d.headers['ragline-dlq-type'] ?? '';
      types.set(type, (types.get(type) ?? 0) + 1);
      assert.ok(d.headers['ragline-dlq-reason'], 'a reason');
      assert.equal(d.headers['ragline-original-topic'], topic);
      assert.match(d.headers['ragline-original-offset'] ?? '', /^\d+$/);
    }
    assert.deepEqual(Object.fromEntries(types), {
      MalformedEvent: refused / 4,
      UnsupportedSchema: refused / 4,
      UnroutableEvent: refused / 2,
    });
  });
});
