import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { validatePipelineSpec } from '../../pipeline/spec.ts';
import { startTrigger, type RunningTrigger } from '../../workers/trigger.ts';
import { createTopic, produceWithConsoleProducer } from '../support/kafka-tools.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';
import { Harness } from './support.ts';

// Two trigger processes share one consumer group: a second one joining mid-stream and the first one leaving
// mid-stream rebalance the partitions between them, and every event is still handed over (at least once; a
// redelivered event changes nothing).

const DOCS = 200;
const brokers = [`127.0.0.1:${stack.ports.kafka}`];

describe('two triggers in one consumer group, one joining and one leaving mid-stream', () => {
  const topic = uniqueName('rebalance-events');
  const h = new Harness({ embedder: { kind: 'hash', dims: 64 }, concurrency: { documents: 16, pageSize: 100 } });
  let connection: Connection;
  const triggers: RunningTrigger[] = [];
  const keyOf = (i: number) => `rebalance/doc-${String(i).padStart(3, '0')}.txt`;

  before(async () => {
    h.spec = validatePipelineSpec({ ...h.spec, triggers: [{ kind: 'kafka', topic, groupId: uniqueName('shared-group') }] });
    await h.start();
    connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
    await createTopic(topic, 4);
    await Promise.all(Array.from({ length: DOCS }, (_, i) => h.put(keyOf(i), `Rebalance document ${i}. `.repeat(8))));
  });
  after(async () => {
    for (const t of triggers) await t.stop().catch(() => undefined);
    await h.dropIndexes();
    await connection?.close();
    await h.stop();
  });

  it('shares the partitions and loses no event across both rebalances', async () => {
    const client = new Client({ connection, namespace: stack.temporalNamespace });
    const start = () =>
      startTrigger({ specs: [h.spec], client, brokers, log: () => undefined, consumer: { sessionTimeoutMs: 10_000 } });
    await produceWithConsoleProducer({
      topic,
      brokers,
      records: Array.from({ length: DOCS }, (_, i) => ({
        key: h.uri(keyOf(i)),
        value: JSON.stringify({ schema: 'ragline.document-event/v1', op: 'upsert', uri: h.uri(keyOf(i)) }),
      })),
    });
    const first = await start();
    triggers.push(first);
    await eventually(async () => (first.stats().signalled >= 20 ? true : undefined), 60_000, 'first trigger under way');
    const second = await start();
    triggers.push(second);
    await eventually(async () => (second.stats().signalled > 0 ? true : undefined), 60_000, 'second trigger took partitions');
    await first.stop();
    const total = () => first.stats().signalled + second.stats().signalled;
    await eventually(async () => (total() >= DOCS ? true : undefined), 120_000, 'every event handed over');
    assert.ok(first.stats().signalled > 0 && second.stats().signalled > 0, 'both did part of the work');
    // At least once: a message in hand at a rebalance may be handed over twice, never dropped.
    assert.ok(total() <= DOCS + 8, `redeliveries stay within the messages in hand (${total()})`);

    await eventually(
      async () => {
        for (let i = 0; i < DOCS; i++) {
          if ((await h.ledger.get(h.spec.tenant, h.uri(keyOf(i))))?.status !== 'ingested') return undefined;
        }
        return true;
      },
      180_000,
      'every document ingested',
    );
    let chunks = 0;
    for (let i = 0; i < DOCS; i++) chunks += (await h.ledger.get(h.spec.tenant, h.uri(keyOf(i))))!.chunkIds.length;
    assert.equal(await h.sink.count(h.index, { tenant: h.spec.tenant }), chunks);
  });
});
