// The EventSource contract on the real local Kafka: order per partition, commits only after the handler finished,
// failing partitions held back without blocking the others, and redelivery after a stop without commit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { EventBatch, EventSource } from '../../connectors/events/event-source.ts';
import { createKafkaEventSource, type KafkaEventSourceConfigInput } from '../../connectors/events/kafka.ts';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';

hideKafkajsTimerWarning();
const brokers = [`127.0.0.1:${stack.ports.kafka}`];
const kafka = new Kafka({ clientId: 'contract', brokers, logLevel: logLevel.NOTHING });

describe('EventSource on Kafka (kafkajs)', () => {
  let admin: Admin;
  const topics: string[] = [];
  const sources: EventSource[] = [];

  before(async () => {
    admin = kafka.admin();
    await admin.connect();
  });

  after(async () => {
    await Promise.allSettled(sources.map((s) => s.stop()));
    if (topics.length) await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  async function topicWith(partitions: number, messages: Array<{ key: string; value: string; partition?: number }>) {
    const topic = uniqueName('es-contract');
    topics.push(topic);
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();
    return topic;
  }

  function source(topic: string, groupId: string, extra: Partial<KafkaEventSourceConfigInput> = {}): EventSource {
    const s = createKafkaEventSource({
      brokers,
      groupId,
      topics: [topic],
      clientId: 'contract',
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1_000,
      maxWaitTimeMs: 200,
      retry: { initialMs: 50, maxMs: 400 },
      ...extra,
    });
    sources.push(s);
    return s;
  }

  /** Committed offset per partition (-1: nothing committed). */
  async function committed(groupId: string, topic: string): Promise<Map<number, number>> {
    const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(res!.partitions.map((p) => [p.partition, Number(p.offset)]));
  }

  const text = (b: Buffer | null) => b?.toString() ?? '';

  it('hands each partition over in order, partitions in parallel, and commits what was handled', async () => {
    const sent = Array.from({ length: 60 }, (_, i) => ({ key: `doc-${i % 6}`, value: `doc-${i % 6}:${i}` }));
    const topic = await topicWith(3, sent);
    const groupId = uniqueName('es-group');
    const seen: Array<{ partition: number; key: string; seq: number; offset: number }> = [];
    const s = source(topic, groupId, { partitionsConsumedConcurrently: 3 });
    await s.run(async (batch: EventBatch) => {
      for (const m of batch.messages)
        seen.push({
          partition: batch.partition,
          key: text(m.key),
          seq: Number(text(m.value).split(':')[1]),
          offset: Number(m.offset),
        });
    });
    await eventually(async () => (seen.length >= sent.length ? true : undefined), 30_000, 'every message');
    await s.stop();

    assert.equal(seen.length, sent.length, 'each message exactly once in a clean run');
    const byKey = new Map<string, number[]>();
    for (const m of seen) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m.seq]);
    for (const [key, seqs] of byKey)
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        `order of ${key}`,
      );
    const ends = new Map<number, number>();
    for (const m of seen) ends.set(m.partition, Math.max(ends.get(m.partition) ?? -1, m.offset + 1));
    assert.deepEqual(await committed(groupId, topic), new Map([...ends].map(([p, o]) => [p, o])));
  });

  it('holds a failing partition back, commits only what was resolved, and retries from there', async () => {
    const sent = [
      ...Array.from({ length: 5 }, (_, i) => ({ key: 'a', value: `p0:${i}`, partition: 0 })),
      ...Array.from({ length: 5 }, (_, i) => ({ key: 'b', value: `p1:${i}`, partition: 1 })),
    ];
    const topic = await topicWith(2, sent);
    const groupId = uniqueName('es-group');
    const delivered: string[] = [];
    let healthy = false;
    const s = source(topic, groupId);
    await s.run(async (batch, ctx) => {
      for (const m of batch.messages) {
        const v = text(m.value);
        delivered.push(v);
        // p0:2 fails until the "server" comes back; what came before it is resolved and may be committed.
        if (v === 'p0:2' && !healthy) throw new Error('temporal unavailable');
        ctx.resolve(m.offset);
      }
    });

    await eventually(async () => ((await committed(groupId, topic)).get(1) === 5 ? true : undefined), 20_000, 'partition 1 done');
    await eventually(
      async () => (s.retrying().some((r) => r.partition === 0 && r.attempts >= 2) ? true : undefined),
      20_000,
      'p0 retrying',
    );
    assert.equal((await committed(groupId, topic)).get(0), 2, 'only p0:0 and p0:1 are committed while p0:2 fails');
    assert.match(s.retrying()[0]!.lastError, /temporal unavailable/);

    healthy = true;
    await eventually(async () => ((await committed(groupId, topic)).get(0) === 5 ? true : undefined), 20_000, 'partition 0 done');
    await s.stop();
    assert.deepEqual(s.retrying(), []);
    const p0 = delivered.filter((v) => v.startsWith('p0:'));
    // Never skipped, never redelivered before the failing message: p0:0 and p0:1 once, then p0:2 until it passed.
    assert.deepEqual(p0.slice(0, 2), ['p0:0', 'p0:1']);
    assert.ok(p0.filter((v) => v === 'p0:2').length >= 3, p0.join(' '));
    assert.deepEqual(p0.slice(-3), ['p0:2', 'p0:3', 'p0:4']);
    assert.deepEqual(
      delivered.filter((v) => v.startsWith('p1:')),
      ['p1:0', 'p1:1', 'p1:2', 'p1:3', 'p1:4'],
    );
  });

  it('redelivers to the next member what a stopped member had not finished', async () => {
    const sent = Array.from({ length: 4 }, (_, i) => ({ key: 'k', value: `m${i}` }));
    const topic = await topicWith(1, sent);
    const groupId = uniqueName('es-group');

    let started!: () => void;
    const inHand = new Promise<void>((r) => (started = r));
    const first = source(topic, groupId);
    await first.run(async (batch, ctx) => {
      ctx.resolve(batch.messages[0]!.offset);
      started();
      // A handler that is cut off before it finishes m1: the stop must not commit past m0.
      await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
    });
    await inHand;
    await first.stop();
    assert.equal((await committed(groupId, topic)).get(0), 1);

    const again: string[] = [];
    const second = source(topic, groupId);
    await second.run(async (batch) => void again.push(...batch.messages.map((m) => text(m.value))));
    await eventually(async () => (again.length >= 3 ? true : undefined), 20_000, 'redelivery');
    await second.stop();
    assert.deepEqual(again, ['m1', 'm2', 'm3']);
    assert.equal((await committed(groupId, topic)).get(0), 4);
  });
});
