// What the Milvus and Chroma sinks send for credentials, seen by tiny local servers (the local Milvus Lite and Chroma
// servers have no authentication): Milvus's gRPC `authorization` metadata over TLS with the test CA, Chroma's token
// header. Both servers refuse, as a real server does with a bad credential, and the refusal must come back typed.
// Also: Pinecone's key from a reference, and what each spec block turns into.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { SecretError } from '../../connectors/shared/secret.ts';
import { milvusSinkConfigOf } from '../../connectors/sinks/milvus.config.ts';
import { pineconeSinkConfigOf } from '../../connectors/sinks/pinecone.config.ts';
import { defaultPipelineSpec, validatePipelineSpec } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { makeTestCertificates } from '../support/secured-servers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ragline-sink-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const certs = makeTestCertificates(join(dir, 'certs'));

const specWith = (sink: Record<string, unknown>) =>
  validatePipelineSpec({ ...defaultPipelineSpec({ dataDir: dir, chromaPort: 8000 }), sinks: [{ name: 's', ...sink }] });

const typedRefusal = (secret: string) => (err: unknown) => {
  assert.ok(err instanceof ConnectorError, String(err));
  assert.equal(err.type, FailureType.SinkRejected);
  assert.equal(err.retryable, false);
  assert.ok(!err.message.includes(secret), 'the message must not print the credential');
  return true;
};

describe('milvus sink credentials', () => {
  it('sends user and password (password from a file) as gRPC metadata over TLS trusting the CA file; UNAUTHENTICATED is a refusal', async () => {
    const seen: Array<string | undefined> = [];
    const server = createSecureServer({ key: certs.key, cert: certs.cert }, (req, res) => {
      seen.push(req.headers.authorization as string | undefined);
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '16', 'grpc-message': 'invalid credentials' });
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    writeFileSync(join(dir, 'milvus.password'), 'pw-from-file\n');
    try {
      const spec = specWith({
        kind: 'milvus',
        address: `127.0.0.1:${port}`,
        username: 'root',
        password: { file: 'milvus.password' },
        caFile: 'certs/ca.pem',
        timeoutMs: 5000,
      });
      const sink = (await createSinks(spec, { env: {}, baseDir: dir })).get('s')!;
      await assert.rejects(sink.count('anything'), typedRefusal('pw-from-file'));
      await sink.close();
      assert.ok(seen.length > 0, 'the client reached the server over TLS');
      assert.equal(seen[0], Buffer.from('root:pw-from-file').toString('base64'));
    } finally {
      server.close();
    }
  });

  it('maps the spec: token or username/password, files read, both ways at once refused', () => {
    const source = { env: { ZILLIZ: 'tok' }, baseDir: dir };
    const base = { address: 'x:1', ssl: false, batchSize: 1, timeoutMs: 1 };
    assert.equal(milvusSinkConfigOf({ ...base, token: { env: 'ZILLIZ' } }, 'sink s', source).token, 'tok');
    assert.deepEqual(milvusSinkConfigOf({ ...base, caFile: 'certs/ca.pem', serverName: 'milvus' }, 'sink s', source).tls, {
      ca: certs.ca,
      cert: undefined,
      key: undefined,
      serverName: 'milvus',
    });
    assert.throws(
      () => milvusSinkConfigOf({ ...base, token: 't', username: 'u', password: { env: 'ZILLIZ' } }, 'sink s', source),
      /sink s: give either token or username and password, not both/,
    );
    assert.throws(() => milvusSinkConfigOf({ ...base, username: 'u' }, 'sink s', source), /username and password go together/);
    assert.throws(() => milvusSinkConfigOf({ ...base, certFile: 'certs/server.pem' }, 'sink s', source), /certFile and keyFile/);
  });
});

describe('chroma sink credentials', () => {
  it('sends the token from a variable in the chosen header; a 401 is a refusal', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'Unauthorized', message: 'bad token' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const [authHeader, expected] of [
        ['x-chroma-token', ['x-chroma-token', 'chroma-secret']],
        ['authorization', ['authorization', 'Bearer chroma-secret']],
      ] as const) {
        seen.length = 0;
        const spec = specWith({ kind: 'chroma', port, authToken: { env: 'CHROMA_TOKEN' }, authHeader });
        const sink = (await createSinks(spec, { env: { CHROMA_TOKEN: 'chroma-secret' } })).get('s')!;
        await assert.rejects(sink.count('anything'), typedRefusal('chroma-secret'));
        await sink.close();
        assert.ok(seen.length > 0);
        assert.equal(seen[0]![expected[0]], expected[1]);
      }
    } finally {
      server.close();
    }
  });
});

describe('pinecone sink credentials', () => {
  it('reads apiKey from a reference, else PINECONE_API_KEY, else fails naming it', () => {
    const base = specWith({ kind: 'pinecone', indexHost: 'http://127.0.0.1:1' }).sinks[0]!;
    assert.equal(base.kind, 'pinecone');
    if (base.kind !== 'pinecone') return;
    const source = (env: NodeJS.ProcessEnv) => ({ env, baseDir: dir });
    assert.equal(pineconeSinkConfigOf({ ...base, apiKey: { env: 'PC' } }, 'sink s', source({ PC: 'k1' })).apiKey, 'k1');
    assert.equal(pineconeSinkConfigOf(base, 'sink s', source({ PINECONE_API_KEY: 'k2' })).apiKey, 'k2');
    assert.equal(pineconeSinkConfigOf({ ...base, apiKey: 'inline' }, 'sink s', source({})).apiKey, 'inline');
    assert.throws(
      () => pineconeSinkConfigOf(base, 'sink s', source({})),
      (err: unknown) =>
        err instanceof SecretError && err.message === 'sink s apiKey: environment variable PINECONE_API_KEY is not set',
    );
  });
});
