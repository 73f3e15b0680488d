// The Weaviate sink against a second Weaviate server that demands an API key and speaks only TLS (REST and gRPC),
// started here on spare ports with a throwaway CA: keys from the environment and from files, the CA from a file,
// and refusals that are typed, not retried and never print a key.
import '../support/grpc-default-roots.ts';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { SecretError } from '../../connectors/shared/secret.ts';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { defaultPipelineSpec, validatePipelineSpec } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { makeTestCertificates, startAuthWeaviate, type AuthWeaviate } from '../support/secured-servers.ts';
import { uniqueName } from '../support/stack.ts';

const KEYS = ['ragline-key-one', 'ragline-key-two'];

describe('weaviate sink: API key and TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-weaviate-auth-'));
  let server: AuthWeaviate;
  const opened: Sink[] = [];

  before(async () => {
    const certs = makeTestCertificates(join(dir, 'certs'));
    server = await startAuthWeaviate({ dataDir: join(dir, 'weaviate'), keys: KEYS, tls: certs });
  });

  after(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The sink a pipeline spec declares, built the way workers build it (relative files from `dir`). */
  async function sinkOf(fields: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<Sink> {
    const base = defaultPipelineSpec({ dataDir: dir, chromaPort: 8000 });
    const spec = validatePipelineSpec({
      ...base,
      sinks: [
        {
          kind: 'weaviate',
          name: 'secured',
          host: '127.0.0.1',
          port: server.http,
          grpcPort: server.grpc,
          secure: true,
          caFile: 'certs/ca.pem',
          initTimeoutS: 10,
          ...fields,
        },
      ],
    });
    const sink = (await createSinks(spec, { env, baseDir: dir })).get('secured')!;
    opened.push(sink);
    return sink;
  }

  async function roundTrip(sink: Sink): Promise<void> {
    const index = uniqueName('auth', '_');
    const id = randomUUID();
    await sink.ensureIndex({ name: index, dims: 2, metric: 'cosine' });
    await sink.upsert(index, [
      {
        id,
        vector: new Float32Array([1, 0]),
        text: 'secured text',
        metadata: { tenant: 't', sourceUri: 'doc://a', chunkIndex: 0, start: 0, end: 12, contentHash: 'h', pipelineVersion: '1' },
      },
    ]);
    const hits = await sink.search(index, new Float32Array([1, 0]), { topK: 1, tenant: 't' });
    assert.deepEqual(
      hits.map((h) => [h.id, h.text]),
      [[id, 'secured text']],
    );
    await sink.dropIndex(index);
  }

  const refusedWithoutKey = (key: string | undefined) => (err: unknown) => {
    assert.ok(err instanceof ConnectorError, String(err));
    assert.equal(err.type, FailureType.SinkRejected);
    assert.equal(err.retryable, false);
    assert.match(err.message, /401|unauthori[sz]ed|Unauthenticated/i);
    if (key) assert.ok(!err.message.includes(key), 'the message must not print the key');
    return true;
  };

  it('with the key from an environment variable, it upserts and searches over HTTPS and gRPC with TLS', async () => {
    await roundTrip(await sinkOf({ apiKey: { env: 'WEAVIATE_TEST_KEY' } }, { WEAVIATE_TEST_KEY: KEYS[0] }));
  });

  it('with the key from a file (relative to the spec, trailing line break ignored), it works too', async () => {
    writeFileSync(join(dir, 'weaviate.key'), `${KEYS[1]}\n`);
    await roundTrip(await sinkOf({ apiKey: { file: 'weaviate.key' } }));
  });

  it('an inline key, as specs had before references, still works', async () => {
    await roundTrip(await sinkOf({ apiKey: KEYS[0] }));
  });

  it('a wrong key is refused: SinkRejected, not retryable, the key not in the message', async () => {
    const wrong = 'ragline-wrong-key-123';
    const sink = await sinkOf({ apiKey: { env: 'WEAVIATE_TEST_KEY' } }, { WEAVIATE_TEST_KEY: wrong });
    await assert.rejects(
      sink.ensureIndex({ name: uniqueName('auth', '_'), dims: 2, metric: 'cosine' }),
      refusedWithoutKey(wrong),
    );
  });

  it('no key at all is refused the same way', async () => {
    const sink = await sinkOf({});
    await assert.rejects(sink.count(uniqueName('auth', '_')), refusedWithoutKey(undefined));
  });

  it('an unset variable or a missing key file fails when the sink is built, naming it and nothing else', async () => {
    await assert.rejects(sinkOf({ apiKey: { env: 'WEAVIATE_TEST_KEY' } }), (err: unknown) => {
      assert.ok(err instanceof SecretError);
      assert.equal(err.type, FailureType.InvalidInput);
      assert.equal(err.message, 'sink secured apiKey: environment variable WEAVIATE_TEST_KEY is not set');
      return true;
    });
    await assert.rejects(
      sinkOf({ apiKey: { env: 'WEAVIATE_TEST_KEY' } }, { WEAVIATE_TEST_KEY: '' }),
      /WEAVIATE_TEST_KEY is empty/,
    );
    await assert.rejects(sinkOf({ apiKey: { file: 'missing.key' } }), (err: unknown) => {
      assert.ok(err instanceof SecretError);
      assert.match(
        err.message,
        new RegExp(`^sink secured apiKey: file ${join(dir, 'missing.key')} cannot be read \\(ENOENT\\)$`),
      );
      return true;
    });
  });

  it('a missing CA file fails when the sink is built, naming the file', async () => {
    await assert.rejects(
      sinkOf({ caFile: 'certs/missing-ca.pem', apiKey: KEYS[0] }),
      /caFile: file .*missing-ca\.pem cannot be read/,
    );
  });
});
