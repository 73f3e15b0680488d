import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { validatePipelineSpec } from '../../pipeline/spec.ts';
import { startTrigger, type RunningTrigger } from '../../workers/trigger.ts';
import { Harness } from '../e2e/support.ts';
import { restartService } from '../support/faults.ts';
import { createTopic, produceWithConsoleProducer } from '../support/kafka-tools.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';

// Temporal is unreachable for 60 s while events keep arriving: the trigger holds its partitions (retrying, committing
// nothing it could not hand over), the workers wait, and once Temporal is back every event is applied: nothing lost.

const DOCS = 60;
const OUTAGE_MS = 60_000;
const brokers = [`127.0.0.1:${stack.ports.kafka}`];

describe('Temporal unavailable for 60 seconds under a running trigger', () => {
  const topic = uniqueName('outage-events');
  const h = new Harness({ embedder: { kind: 'hash', dims: 64 } });
  let connection: Connection;
  let trigger: RunningTrigger | undefined;
  const keyOf = (i: number) => `outage/doc-${String(i).padStart(2, '0')}.txt`;
  const event = (i: number) => ({
    key: h.uri(keyOf(i)),
    value: JSON.stringify({ schema: 'ragline.document-event/v1', op: 'upsert', uri: h.uri(keyOf(i)) }),
  });

  before(async () => {
    h.spec = validatePipelineSpec({ ...h.spec, triggers: [{ kind: 'kafka', topic, groupId: uniqueName('outage') }] });
    await h.start();
    connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
    await createTopic(topic, 2);
    await Promise.all(Array.from({ length: DOCS }, (_, i) => h.put(keyOf(i), `Outage document ${i}. `.repeat(12))));
  });
  after(async () => {
    await trigger?.stop();
    await h.dropIndexes();
    await connection?.close();
    await h.stop();
  });

  it('holds events while Temporal is down and applies every one of them once it is back', async () => {
    const client = new Client({ connection, namespace: stack.temporalNamespace });
    trigger = await startTrigger({ specs: [h.spec], client, brokers, log: () => undefined, signalTimeoutMs: 3_000 });
    const half = DOCS / 2;
    await produceWithConsoleProducer({ topic, brokers, records: Array.from({ length: half }, (_, i) => event(i)) });
    await eventually(async () => (trigger!.stats().signalled === half ? true : undefined), 60_000, 'first half signalled');

    let retriedWhileDown = 0;
    const report = await restartService('temporal', {
      whileDown: async () => {
        const started = Date.now();
        await produceWithConsoleProducer({ topic, brokers, records: Array.from({ length: half }, (_, i) => event(half + i)) });
        // The trigger cannot hand them over: it retries its partitions and signals nothing.
        await eventually(async () => (trigger!.stats().retrying.length > 0 ? true : undefined), 30_000, 'partitions retrying');
        retriedWhileDown = Math.max(...trigger!.stats().retrying.map((r) => r.attempts));
        assert.equal(trigger!.stats().signalled, half);
        await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - started))));
      },
    });
    assert.ok(report.downForMs >= OUTAGE_MS, `down ${report.downForMs} ms`);
    assert.ok(retriedWhileDown >= 1);

    await eventually(
      async () => {
        for (let i = 0; i < DOCS; i++) {
          const rec = await h.ledger.get(h.spec.tenant, h.uri(keyOf(i)));
          if (rec?.status !== 'ingested') return undefined;
        }
        return true;
      },
      240_000,
      'every document ingested after the outage',
    );
    assert.equal(trigger.stats().signalled, DOCS);
    assert.equal(trigger.stats().deadLettered, 0);
    let chunks = 0;
    for (let i = 0; i < DOCS; i++) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(keyOf(i)));
      assert.deepEqual(await h.sinkIds(keyOf(i)), [...rec!.chunkIds].sort(), keyOf(i));
      chunks += rec!.chunkIds.length;
    }
    assert.equal(await h.sink.count(h.index, { tenant: h.spec.tenant }), chunks);
  });
});
