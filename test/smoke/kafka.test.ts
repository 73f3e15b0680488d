import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { stack, uniqueName } from '../support/stack.ts';

hideKafkajsTimerWarning();

describe('Kafka broker with kafkajs', () => {
  const kafka = new Kafka({ clientId: 'smoke', brokers: [`127.0.0.1:${stack.ports.kafka}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  after(() => admin.disconnect());

  it('produces and consumes through a consumer group that commits its offsets', async () => {
    const topic = uniqueName('smoke-topic');
    const groupId = uniqueName('smoke-group');
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `doc-${i % 5}`, value: `event-${i}` }));
    await producer.send({ topic, messages: sent });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: Array<{ key: string; value: string; partition: number }> = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length}/30 messages arrived`)), 30_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          received.push({ key: String(message.key), value: String(message.value), partition });
          if (received.length === sent.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect(); // commits what was consumed

    assert.deepEqual(received.map((m) => m.value).sort(), sent.map((m) => m.value).sort());
    // One key always lands on one partition, which is what keeps a document's events in order.
    const partitionsByKey = new Map<string, Set<number>>();
    for (const m of received) partitionsByKey.set(m.key, (partitionsByKey.get(m.key) ?? new Set()).add(m.partition));
    for (const [key, parts] of partitionsByKey) assert.equal(parts.size, 1, `key ${key} spread over ${[...parts]}`);

    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = offsets[0]?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    assert.equal(committed, sent.length);
    await admin.deleteTopics({ topics: [topic] });
  });
});
