import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { validatePipelineSpec } from '../../pipeline/spec.ts';
import { cliEnv, Harness } from '../e2e/support.ts';
import { createTopic, produceWithConsoleProducer } from '../support/kafka-tools.ts';
import { startCliProcess, stopProcess } from '../support/cli-process.ts';
import { restartService } from '../support/faults.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';

// The trigger is SIGKILLed while it works through a stream, restarted, then Kafka itself restarts mid-stream: every
// document still ends exactly as its source is, with no chunk lost and none twice (the sink count equals the ledger's).

const DOCS = 120;
const brokers = [`127.0.0.1:${stack.ports.kafka}`];

/** `ingest trigger --with-workers` as its own process group, like an operator runs it. */
const startTriggerProcess = (specFile: string, log: string[]) =>
  startCliProcess(['--pipeline', specFile, 'trigger', '--with-workers'], 'trigger is consuming', cliEnv(), (t) => log.push(t));

describe('the trigger killed mid-stream and Kafka restarted mid-stream', () => {
  const topic = uniqueName('fault-events');
  const h = new Harness({ embedder: { kind: 'hash', dims: 64 }, concurrency: { documents: 8, pageSize: 100 } });
  let specFile: string;
  let trigger: ChildProcess | undefined;
  let connection: Connection;
  let client: Client;
  const log: string[] = [];
  const keyOf = (i: number) => `stream/doc-${String(i).padStart(3, '0')}.txt`;
  const event = (i: number, op: 'upsert' | 'delete' = 'upsert') => ({
    key: h.uri(keyOf(i)),
    value: JSON.stringify({ schema: 'ragline.document-event/v1', op, uri: h.uri(keyOf(i)) }),
  });

  before(async () => {
    h.spec = validatePipelineSpec({ ...h.spec, triggers: [{ kind: 'kafka', topic, groupId: uniqueName('fault-trigger') }] });
    await h.start({ workers: false });
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
    client = new Client({ connection, namespace: stack.temporalNamespace });
    await createTopic(topic, 3);
    await Promise.all(Array.from({ length: DOCS }, (_, i) => h.put(keyOf(i), `Stream document ${i}. `.repeat(10 + (i % 11)))));
  });
  after(async () => {
    if (trigger) await stopProcess(trigger, 'SIGKILL');
    await h.dropIndexes();
    await connection?.close();
    await h.stop();
  });

  const docsDone = async () =>
    (await client.workflow.count(`Pipeline = '${h.spec.name}-v1' AND ExecutionStatus = 'Completed'`)).count;

  it('ends with exactly the current documents: nothing lost, nothing written twice', async () => {
    // Two rounds of upserts for every document.
    await produceWithConsoleProducer({
      topic,
      brokers,
      records: [...Array(2)].flatMap(() => Array.from({ length: DOCS }, (_, i) => event(i))),
    });
    trigger = await startTriggerProcess(specFile, log);
    // SIGKILL once it is well into the stream: some documents done, most not.
    await eventually(async () => ((await docsDone()) >= 10 ? true : undefined), 120_000, 'first documents done');
    await stopProcess(trigger, 'SIGKILL');

    // While nothing consumes: 20 objects go away, with delete events; then a fresh trigger.
    const removed = Array.from({ length: 20 }, (_, i) => i * 6);
    for (const i of removed) await h.remove(keyOf(i));
    await produceWithConsoleProducer({ topic, brokers, records: removed.map((i) => event(i, 'delete')) });
    trigger = await startTriggerProcess(specFile, log);

    // Kafka restarts (a crash) while the trigger works; events produced after it still arrive.
    const report = await restartService('kafka', { mode: 'kill', topics: [topic] });
    assert.ok(report.downForMs > 0);
    for (let i = 0; i < DOCS; i += 10)
      if (!removed.includes(i)) await h.put(keyOf(i), `Stream document ${i}, edited. `.repeat(14));
    const edited = Array.from({ length: DOCS / 10 }, (_, k) => k * 10).filter((i) => !removed.includes(i));
    await produceWithConsoleProducer({ topic, brokers, records: edited.map((i) => event(i)) });

    const live = Array.from({ length: DOCS }, (_, i) => i).filter((i) => !removed.includes(i));
    await eventually(
      async () => {
        for (const i of [...live, ...removed]) {
          const rec = await h.ledger.get(h.spec.tenant, h.uri(keyOf(i)));
          if (rec?.status !== (removed.includes(i) ? 'deleted' : 'ingested')) return undefined;
        }
        for (const i of edited) {
          const ids = await h.sinkIds(keyOf(i));
          const rec = await h.ledger.get(h.spec.tenant, h.uri(keyOf(i)));
          if (ids.join() !== [...rec!.chunkIds].sort().join() || rec!.updatedAt < new Date(Date.now() - 600_000).toISOString())
            return undefined;
        }
        const running = await client.workflow.count(`Pipeline = '${h.spec.name}-v1' AND ExecutionStatus = 'Running'`);
        return running.count === 0 ? true : undefined;
      },
      240_000,
      `every document in its final state (trigger log: ${log.join('').slice(-2000)})`,
    );

    let chunks = 0;
    for (let i = 0; i < DOCS; i++) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(keyOf(i)));
      assert.deepEqual(await h.sinkIds(keyOf(i)), [...rec!.chunkIds].sort(), keyOf(i));
      chunks += rec!.chunkIds.length;
    }
    assert.equal(await h.sink.count(h.index, { tenant: h.spec.tenant }), chunks, 'no chunk twice, none lost');
    // The edits reached the index: an edited document's chunks hold the new text.
    const hits = await h.sink.search(h.index, new Float32Array(64).fill(0.1), { topK: chunks, tenant: h.spec.tenant });
    const editedUris = new Set(edited.map((i) => h.uri(keyOf(i))));
    const stale = hits.filter((x) => editedUris.has(String(x.metadata.sourceUri)) && !x.text.includes('edited'));
    assert.deepEqual(stale, [], 'edited documents hold only their new text');
    await stopProcess(trigger, 'SIGTERM');
  });
});
