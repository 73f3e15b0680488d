import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { defaultPipelineSpec, validatePipelineSpec } from '../pipeline/spec.ts';
import { pipelineRef } from '../pipeline/ref.ts';
import { documentWorkflowId, sourceWorkflowId } from '../pipeline/ids.ts';

const spec = defaultPipelineSpec({ dataDir: '/tmp/x', chromaPort: 8000 });

test('document workflow ids carry pipeline, version, tenant and the uri', () => {
  const v1 = pipelineRef(spec);
  const v2 = pipelineRef(validatePipelineSpec({ ...spec, version: 2 }));
  const other = pipelineRef(validatePipelineSpec({ ...spec, name: 'other' }));
  const uri = 's3://bucket/docs/a b+c é.md';
  assert.equal(documentWorkflowId(v1, uri), `doc:default-v1:default:${uri}`);
  const ids = new Set([v1, v2, other, pipelineRef(spec, 'acme')].map((r) => documentWorkflowId(r, uri)));
  assert.equal(ids.size, 4, 'versions, pipelines and tenants never share a document workflow');
  assert.notEqual(sourceWorkflowId(v1, 's3://bucket/docs/'), sourceWorkflowId(v2, 's3://bucket/docs/'));
});

test('a long uri is hashed (sha256 of its UTF-8 bytes): ids stay far below Temporal 1,000-byte limit', () => {
  const ref = pipelineRef(spec);
  const long = `s3://bucket/${'ü'.repeat(600)}.txt`; // 1,200+ bytes in UTF-8
  const id = documentWorkflowId(ref, long);
  const hex = createHash('sha256').update(long, 'utf8').digest('hex');
  assert.equal(id, `doc:default-v1:default:sha256:${hex}`);
  assert.ok(Buffer.byteLength(id) < 200);
  assert.notEqual(documentWorkflowId(ref, `${long}x`), id);
  // The boundary: 400 bytes stay readable, 401 are hashed.
  const at = `s3://b/${'a'.repeat(400 - 7)}`;
  assert.equal(Buffer.byteLength(at), 400);
  assert.ok(documentWorkflowId(ref, at).endsWith(at));
  assert.match(documentWorkflowId(ref, `${at}a`), /:sha256:[0-9a-f]{64}$/);
});

test('task queues are per pipeline version', () => {
  const v1 = pipelineRef(spec);
  const v2 = pipelineRef(validatePipelineSpec({ ...spec, version: 2 }));
  assert.notEqual(v1.ingestQueue, v2.ingestQueue);
  assert.notEqual(v1.embedQueue, v2.embedQueue);
});
