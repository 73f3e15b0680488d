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
