import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipelineStamp } from '../workflows/types.ts';
import { pipelineRef } from './ref.ts';
import { defaultPipelineSpec, validatePipelineSpec } from './spec.ts';

test('the fingerprint follows what shapes the vectors, not throughput settings', () => {
  const spec = defaultPipelineSpec({ dataDir: '/tmp/x', chromaPort: 8000 });
  const same = validatePipelineSpec({ ...spec, embedder: { ...spec.embedder, batchSize: 64 } });
  const rechunked = validatePipelineSpec({ ...spec, chunker: { ...spec.chunker, chunkSize: 128 } });
  const a = pipelineRef(spec);
  assert.equal(pipelineRef(same).fingerprint, a.fingerprint);
  assert.notEqual(pipelineRef(rechunked).fingerprint, a.fingerprint);
  assert.equal(pipelineStamp(a), `1+${a.fingerprint}`);
  assert.deepEqual([a.ingestQueue, a.embedQueue], ['ragline.default.v1.ingest', 'ragline.default.v1.embed']);
});

/** The default spec's fingerprint before credentials were left out of it (ledgers of earlier releases store it). */
const PINNED_DEFAULT_FINGERPRINT = 'cb2ce1cff9df';

test('rotating an API key written in the spec keeps the fingerprint; a spec without one keeps its old fingerprint', () => {
  const base = defaultPipelineSpec({ dataDir: '/tmp/x', chromaPort: 8000 });
  const hosted = (apiKey: string) =>
    validatePipelineSpec({
      ...base,
      embedder: { kind: 'openai-compatible', provider: 'openai', model: 'text-embedding-3-small', dims: 1536, apiKey },
    });
  assert.equal(pipelineRef(hosted('sk-old')).fingerprint, pipelineRef(hosted('sk-new')).fingerprint);
  // The default spec's fingerprint as every earlier release computed it (pinned: ledgers store it).
  assert.equal(pipelineRef(base).fingerprint, PINNED_DEFAULT_FINGERPRINT);
});

test('sink and trigger credentials stay out of the fingerprint and out of what workflows receive', () => {
  const base = defaultPipelineSpec({ dataDir: '/tmp/x', chromaPort: 8000 });
  const withCredentials = (key: unknown, password: unknown) =>
    validatePipelineSpec({
      ...base,
      sinks: [
        { kind: 'weaviate', name: 'w', apiKey: key, secure: true, caFile: 'ca.pem' },
        { kind: 'chroma', name: 'c', authToken: key },
        { kind: 'milvus', name: 'm', username: 'u', password },
        { kind: 'pinecone', name: 'p', indexHost: 'https://x', apiKey: key },
      ],
      triggers: [{ kind: 'kafka', topic: 't', sasl: { mechanism: 'scram-sha-512', username: 'u', password } }],
    });
  const a = pipelineRef(withCredentials('inline-key-old', { env: 'OLD' }));
  const b = pipelineRef(withCredentials({ file: 'new.key' }, { file: 'new.password' }));
  assert.equal(a.fingerprint, b.fingerprint);
  assert.equal(a.fingerprint, pipelineRef(base).fingerprint);
  // The workflow input names the sinks, nothing of their settings.
  assert.ok(!JSON.stringify(a).includes('inline-key-old'));
  assert.deepEqual(a.sinks, ['w', 'c', 'm', 'p']);
});

test('schedules decide when runs start, not what the vectors are: they stay out of the fingerprint', () => {
  const base = defaultPipelineSpec({ dataDir: '/tmp/x', chromaPort: 8000 });
  const scheduled = (every: string, paused: boolean) =>
    validatePipelineSpec({ ...base, schedules: [{ kind: 'reindex', source: 's3://docs/inbox/', every, paused }] });
  const a = pipelineRef(scheduled('1h', false));
  assert.deepEqual(a, pipelineRef(base));
  assert.deepEqual(pipelineRef(scheduled('1d', true)), a);
  assert.equal(a.fingerprint, PINNED_DEFAULT_FINGERPRINT);
});
