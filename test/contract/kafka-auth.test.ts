// The Kafka event source, dead-letter sink and trigger against a second Kafka broker that demands SASL (PLAIN and
// SCRAM) in clear and over TLS, started here on spare ports with a throwaway CA: the right password consumes, a wrong
// one is refused, and the trigger reads its password and CA through the pipeline spec's references.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { EventMessage } from '../../connectors/events/event-source.ts';
import { DOCUMENT_EVENT_V1 } from '../../connectors/events/schema.ts';
import { createKafkaEventSource, kafkajsSecurity, type KafkaSecurity } from '../../connectors/events/kafka.ts';
import { SecretError } from '../../connectors/shared/secret.ts';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { validatePipelineSpec } from '../../pipeline/spec.ts';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { pipelineRef } from '../../pipeline/ref.ts';
import { startTrigger } from '../../workers/trigger.ts';
import { makeTestCertificates, startSaslKafka, type SaslKafka, type TestCertificates } from '../support/secured-servers.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';

hideKafkajsTimerWarning();
const PASSWORD = 'alice-test-secret';

describe('kafka: SASL and TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-kafka-auth-'));
  let certs: TestCertificates;
  let broker: SaslKafka;
  let admin: Admin;
  let tlsSecurity: KafkaSecurity;

  before(async () => {
    certs = makeTestCertificates(join(dir, 'certs'));
    broker = await startSaslKafka({ dataDir: join(dir, 'kafka'), users: { alice: PASSWORD }, tls: certs });
    tlsSecurity = { ssl: { ca: certs.ca }, sasl: { mechanism: 'scram-sha-512', username: 'alice', password: PASSWORD } };
    admin = new Kafka({
      clientId: 'test-admin',
      brokers: [broker.saslSsl],
      logLevel: logLevel.NOTHING,
      ...kafkajsSecurity(tlsSecurity),
    }).admin();
    await admin.connect();
  });

  after(async () => {
    await admin?.disconnect().catch(() => undefined);
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function topicWith(values: string[], key = 'k'): Promise<string> {
    const topic = uniqueName('auth-events');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = new Kafka({
      clientId: 'p',
      brokers: [broker.saslSsl],
      logLevel: logLevel.NOTHING,
      ...kafkajsSecurity(tlsSecurity),
    }).producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key, value })) });
    await producer.disconnect();
    return topic;
  }

  /** Consumes `topic` with the given security until `n` messages arrived. */
  async function consume(brokerAddress: string, security: KafkaSecurity, topic: string, n: number): Promise<string[]> {
    const got: string[] = [];
    const source = createKafkaEventSource({ brokers: [brokerAddress], groupId: uniqueName('g'), topics: [topic], ...security });
    try {
      await source.run(async (batch, ctx) => {
        for (const m of batch.messages as EventMessage[]) {
          got.push(m.value!.toString());
          ctx.resolve(m.offset);
        }
      });
      return await eventually(async () => (got.length >= n ? got : undefined), 30_000, `${n} messages`);
    } finally {
      await source.stop();
    }
  }

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`consumes with SASL ${mechanism} in clear and over TLS with the test CA`, async () => {
      const topic = await topicWith(['a', 'b']);
      const sasl = { mechanism, username: 'alice', password: PASSWORD };
      assert.deepEqual(await consume(broker.saslPlaintext, { sasl }, topic, 2), ['a', 'b']);
      assert.deepEqual(await consume(broker.saslSsl, { sasl, ssl: { ca: certs.ca } }, topic, 2), ['a', 'b']);
    });
  }

  it('a wrong password is refused when the consumer starts, with kafkajs SASL authentication error', async () => {
    const topic = await topicWith(['a']);
    for (const mechanism of ['plain', 'scram-sha-256'] as const) {
      const source = createKafkaEventSource({
        brokers: [broker.saslPlaintext],
        groupId: uniqueName('g'),
        topics: [topic],
        sasl: { mechanism, username: 'alice', password: 'not-the-password' },
      });
      await assert.rejects(
        source.run(async () => undefined),
        (err: Error) => {
          assert.equal(err.name, 'KafkaJSSASLAuthenticationError');
          assert.ok(!err.message.includes('not-the-password'));
          return true;
        },
      );
      await source.stop();
    }
  });

  it('TLS without the CA is refused: the broker certificate is verified', async () => {
    const topic = await topicWith(['a']);
    const source = createKafkaEventSource({
      brokers: [broker.saslSsl],
      groupId: uniqueName('g'),
      topics: [topic],
      ssl: true,
      sasl: { mechanism: 'plain', username: 'alice', password: PASSWORD },
    });
    await assert.rejects(
      source.run(async () => undefined),
      /certificate/,
    );
    await source.stop();
  });

  describe('the trigger, with the password and CA named in the pipeline spec', () => {
    let connection: Connection;
    let client: Client;
    const started: string[] = [];
    before(async () => {
      connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
      client = new Client({ connection, namespace: stack.temporalNamespace });
    });
    after(async () => {
      await Promise.allSettled(started.map((id) => client.workflow.getHandle(id).terminate('test done')));
      await connection?.close();
    });

    const spec = (topic: string, sasl: unknown) =>
      validatePipelineSpec({
        name: uniqueName('auth').slice(0, 30),
        version: 1,
        tenant: 'acme',
        chunker: { kind: 'recursive', chunkSize: 64, chunkOverlap: 8 },
        embedder: { kind: 'hash' },
        sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
        blobStore: { kind: 'local-dir', root: join(dir, 'blobs') },
        ledger: { kind: 'sqlite', path: join(dir, 'ledger.sqlite') },
        triggers: [{ kind: 'kafka', topic, brokers: [broker.saslSsl], ssl: { caFile: 'certs/ca.pem' }, sasl }],
      });

    it('signals the document and dead-letters a malformed event through the secured broker', async () => {
      writeFileSync(join(dir, 'kafka.password'), `${PASSWORD}\n`);
      const uri = 's3://bucket/secured.txt';
      const topic = await topicWith([JSON.stringify({ schema: DOCUMENT_EVENT_V1, op: 'upsert', uri }), 'not json']);
      const s = spec(topic, {
        mechanism: 'scram-sha-256',
        username: { env: 'KAFKA_USER' },
        password: { file: 'kafka.password' },
      });
      started.push(documentWorkflowId(pipelineRef(s), uri));
      const trigger = await startTrigger({
        specs: [s],
        client,
        brokers: [],
        env: { KAFKA_USER: 'alice' },
        baseDirOf: () => dir,
        log: () => undefined,
      });
      try {
        await eventually(
          async () => (trigger.stats().signalled === 1 && trigger.stats().deadLettered === 1 ? true : undefined),
          60_000,
          'signal and dead letter',
        );
        const desc = await client.workflow.getHandle(documentWorkflowId(pipelineRef(s), uri)).describe();
        assert.equal(desc.status.name, 'RUNNING');
        assert.deepEqual(await consume(broker.saslSsl, tlsSecurity, `${topic}.dlq`, 1), ['not json']);
      } finally {
        await trigger.stop();
      }
    });

    it('an unset password variable stops the trigger before it connects, naming the variable', async () => {
      const topic = uniqueName('auth-events');
      const s = spec(topic, { mechanism: 'plain', username: 'alice', password: { env: 'KAFKA_PASSWORD' } });
      await assert.rejects(
        startTrigger({ specs: [s], client, brokers: [], env: {}, baseDirOf: () => dir, log: () => undefined }),
        (err: unknown) => {
          assert.ok(err instanceof SecretError);
          assert.match(err.message, /^trigger .* sasl password: environment variable KAFKA_PASSWORD is not set$/);
          return true;
        },
      );
    });

    it('a wrong password fails the trigger start with the SASL error', async () => {
      const topic = await topicWith(['x']);
      const s = spec(topic, { mechanism: 'plain', username: 'alice', password: { env: 'KAFKA_PASSWORD' } });
      await assert.rejects(
        startTrigger({
          specs: [s],
          client,
          brokers: [],
          env: { KAFKA_PASSWORD: 'wrong' },
          baseDirOf: () => dir,
          log: () => undefined,
        }),
        { name: 'KafkaJSSASLAuthenticationError' },
      );
    });
  });
});
