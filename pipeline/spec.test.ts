import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPipelineSpec, PipelineSpecError, validatePipelineSpec } from './spec.ts';

test('the example spec is valid', () => {
  const spec = loadPipelineSpec(join(import.meta.dirname, '..', 'examples', 'pipeline.yaml'));
  assert.equal(spec.name, 'handbook');
  assert.deepEqual([spec.chunker.kind, 'chunkSize' in spec.chunker && spec.chunker.chunkSize], ['recursive', 240]);
  assert.equal(spec.concurrency.documents, 8);
});

const base = {
  name: 'ok',
  version: 1,
  tenant: 'acme',
  chunker: { kind: 'recursive', chunkSize: 100, chunkOverlap: 200 },
  embedder: { kind: 'local-onnx' },
  sinks: [
    { kind: 'chroma', name: 'a' },
    { kind: 'chroma', name: 'a' },
  ],
  blobStore: { kind: 'local-dir' },
  ledger: { kind: 'sqlite' },
};

test('every problem is reported at once, each with its path', () => {
  assert.throws(
    () => validatePipelineSpec({ ...base, name: 'Bad Name', version: 0, embedder: { kind: 'nope' } }),
    (err: Error) => {
      assert.ok(err instanceof PipelineSpecError);
      const paths = err.issues.map((i) => i.split(':')[0]);
      for (const p of ['name', 'version', 'embedder.kind']) assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
      return true;
    },
  );
});

test('overlap and duplicate sink names are checked once the shape is right', () => {
  assert.throws(
    () => validatePipelineSpec(base),
    (err: Error) => {
      assert.ok(err instanceof PipelineSpecError);
      assert.match(err.message, /chunker: chunkOverlap must be smaller than chunkSize/);
      assert.match(err.message, /sinks\.1\.name: duplicate sink name a/);
      return true;
    },
  );
});

test('unknown keys are errors with their path and the closest known key, at any depth', () => {
  const good = {
    ...base,
    chunker: { kind: 'recursive', chunkSize: 100, chunkOverlap: 10 },
    sinks: [{ kind: 'chroma', name: 'a' }],
  };
  assert.doesNotThrow(() => validatePipelineSpec(good));
  assert.throws(
    () =>
      validatePipelineSpec({
        ...good,
        schedule: [{ kind: 'reindex' }],
        chunker: { kind: 'recursive', chunkSize: 100, chunkOverlap: 10, chunkSze: 100 },
        sinks: [{ kind: 'chroma', name: 'a', prot: 8000 }],
        concurrency: { documnets: 4 },
      }),
    (err: unknown) => {
      assert.ok(err instanceof PipelineSpecError);
      assert.deepEqual(err.issues.sort(), [
        'chunker.chunkSze: unknown key (did you mean chunkSize?)',
        'concurrency.documnets: unknown key (did you mean documents?)',
        'schedule: unknown key',
        'sinks.0.prot: unknown key (did you mean port?)',
      ]);
      return true;
    },
  );
});
