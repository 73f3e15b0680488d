import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import {
  connectClient,
  connectionOptions,
  nativeConnectionOptions,
  resolveTemporalTarget,
  type TemporalTarget,
} from '../../sdk/temporal-connection.ts';
import { makeTestPki, startGrpcGate, type GrpcGate, type TestPki } from '../support/grpc-gate.ts';
import { stack } from '../support/stack.ts';
import { Harness } from './support.ts';

const KEY_ENV = 'RAGLINE_TEST_TEMPORAL_API_KEY';

// The dev server serves no TLS (its `start-dev` has no certificate flags), so a gate in front of it plays the secured
// frontend: TLS from a private CA, client certificates required, `authorization: Bearer <key>` required.
describe('TLS, mTLS and an API key from the temporal block: workers and clients through a secured frontend', () => {
  const apiKey = `key-${Date.now()}`;
  let pki: TestPki;
  let gate: GrpcGate;
  let h: Harness;
  let good: TemporalTarget;

  before(async () => {
    pki = makeTestPki('temporal.test');
    gate = await startGrpcGate({ upstream: `127.0.0.1:${stack.ports.temporal}`, pki, apiKey });
    process.env[KEY_ENV] = apiKey;
    h = new Harness({
      temporal: {
        address: gate.address,
        namespace: stack.temporalNamespace,
        tls: {
          serverName: 'temporal.test',
          serverCaFile: pki.caFile,
          clientCertFile: pki.clientCertFile,
          clientKeyFile: pki.clientKeyFile,
        },
        apiKey: { env: KEY_ENV },
      },
    });
    good = h.temporal;
    await h.start();
    await h.put('a.txt', 'A document that travels through a TLS frontend.\n\n'.repeat(10));
  });
  after(async () => {
    await h?.dropIndexes();
    await h?.stop();
    await gate?.close();
    pki?.remove();
    delete process.env[KEY_ENV];
  });

  it('a document goes through: the worker (core) and the client (grpc-js) both present the certificate and the key', async () => {
    const outcome = await h.client.ingestDocument(h.uri('a.txt'));
    assert.equal(outcome.status, 'ingested');
    const paths = (p: string) => gate.calls.filter((c) => c.path.endsWith(p));
    // Worker polls come from the Rust core's connection; the signal-with-start from the client's.
    for (const path of ['/PollWorkflowTaskQueue', '/PollActivityTaskQueue', '/SignalWithStartWorkflowExecution']) {
      assert.ok(paths(path).length > 0, `the gate saw ${path}`);
    }
    for (const c of gate.calls) {
      assert.equal(c.authorization, `Bearer ${apiKey}`, c.path);
      assert.equal(c.clientCertSubject, 'client', c.path);
      assert.equal(c.admitted, true);
    }
  });

  it('a wrong API key is refused (client and worker connections), and so are a missing client certificate and a foreign CA', async () => {
    const refused = gate.calls.length;
    const unauthenticated = (err: Error) => /bad api key/.test(`${err.message} ${(err.cause as Error | undefined)?.message}`);
    await assert.rejects(connectClient({ ...good, apiKey: 'wrong' }), unauthenticated);
    await assert.rejects(NativeConnection.connect(nativeConnectionOptions({ ...good, apiKey: 'wrong' })), unauthenticated);
    assert.ok(gate.calls.slice(refused).some((c) => !c.admitted && c.authorization === 'Bearer wrong'));
    const tls = good.tls as Exclude<TemporalTarget['tls'], boolean | undefined>;
    // Both fail in the TLS handshake: not one call reaches the gate.
    const handshakes = gate.calls.length;
    const connect = (t: TemporalTarget) => Connection.connect({ ...connectionOptions(t), connectTimeout: 2_000 });
    await assert.rejects(connect({ ...good, tls: { ...tls, clientCertPair: undefined } }));
    const foreign = resolveTemporalTarget(
      {
        address: gate.address,
        tls: {
          serverName: 'temporal.test',
          serverCaFile: pki.otherCaFile,
          clientCertFile: pki.clientCertFile,
          clientKeyFile: pki.clientKeyFile,
        },
        apiKey: { env: KEY_ENV },
      },
      { env: process.env, baseDir: pki.dir, defaults: { address: '', namespace: stack.temporalNamespace } },
    );
    await assert.rejects(connect(foreign));
    assert.equal(gate.calls.length, handshakes);
  });
});
