import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { indexName, validatePipelineSpec, type PipelineSpec } from '../../pipeline/spec.ts';
import { pipelineRef } from '../../pipeline/ref.ts';
import { RaglineClient } from '../../sdk/client.ts';
import { applyDocumentEvent } from '../../sdk/documents.ts';
import { startWorkers, type RunningWorkers } from '../../workers/worker.ts';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { stack } from '../support/stack.ts';
import { Harness, s3Access } from './support.ts';

// Two versions of one pipeline, each with its workers polling at the same time, over the same prefix and ledger file.
// Before identity carried the version, a v2 run attached to v1's workflows and a v1 worker could chunk v2's documents
// with v1's settings into v2's index.

const DOCS = ['rivers and deltas', 'mountain glaciers', 'boreal forests', 'coral reefs', 'desert dunes', 'tundra'];
const LONG_KEY = `deep/${'nested-folder-name/'.repeat(55)}end.txt`; // over 1,000 bytes: the workflow id holds its hash

const temporal = { address: `127.0.0.1:${stack.ports.temporal}`, namespace: stack.temporalNamespace };

describe('two versions of one pipeline running at once', () => {
  const h = new Harness();
  let v2: PipelineSpec;
  let v2Workers: RunningWorkers;
  let v2Client: RaglineClient;
  const keys = [...DOCS.map((_, i) => `docs/doc-${i}.txt`), LONG_KEY];

  before(async () => {
    await h.start();
    v2 = validatePipelineSpec({ ...h.spec, version: 2, chunker: { kind: 'recursive', chunkSize: 24, chunkOverlap: 4 } });
    v2Workers = await startWorkers({
      spec: v2,
      ...temporal,
      roles: ['ingest', 'embed'],
      s3: s3Access,
      baseDir: h.dataDir,
      logLevel: 'ERROR',
    });
    v2Client = await RaglineClient.connect({ ...temporal, spec: v2 });
    for (const [i, key] of keys.entries()) {
      await h.put(
        key,
        `A report on ${DOCS[i % DOCS.length]}, part ${i}. It covers ${DOCS[i % DOCS.length]} at length. `.repeat(12),
      );
    }
  });
  after(async () => {
    await v2Client?.close();
    await v2Workers?.shutdown();
    await h.dropIndexes([h.sink], [1, 2]);
    await h.stop();
  });

  it('runs started together stay apart: each index holds exactly its own version chunks, and a 1,000-byte key works', async () => {
    assert.ok(Buffer.byteLength(h.uri(LONG_KEY)) > 1000);
    const [r1, r2] = await Promise.all([h.client.startIngest(h.uri('')), v2Client.startIngest(h.uri(''))]);
    assert.notEqual(r1.workflowId, r2.workflowId, 'a v2 run never attaches to the v1 run');
    const [c1, c2] = await Promise.all([r1.result(), r2.result()]);
    assert.deepEqual([c1.ingested, c1.failed, c2.ingested, c2.failed], [keys.length, 0, keys.length, 0]);

    const l1 = h.ledger.forVersion(1);
    const l2 = h.ledger.forVersion(2);
    const all1 = new Set<string>();
    for (const key of keys) {
      const [a, b] = [await l1.get(h.spec.tenant, h.uri(key)), await l2.get(h.spec.tenant, h.uri(key))];
      assert.equal(a?.status, 'ingested', key);
      assert.equal(b?.status, 'ingested', key);
      assert.ok(b!.chunkIds.length > a!.chunkIds.length, `v2 chunks smaller (${key})`);
      assert.equal(a!.pipelineVersion, `1+${pipelineRef(h.spec).fingerprint}`);
      assert.equal(b!.pipelineVersion, `2+${pipelineRef(v2).fingerprint}`);
      const in1 = (await h.sink.idsOfDocument(indexName(h.spec), h.spec.tenant, h.uri(key))).sort();
      const in2 = (await h.sink.idsOfDocument(indexName(v2), h.spec.tenant, h.uri(key))).sort();
      assert.deepEqual(in1, [...a!.chunkIds].sort(), `v1 index holds exactly v1's chunks of ${key}`);
      assert.deepEqual(in2, [...b!.chunkIds].sort(), `v2 index holds exactly v2's chunks of ${key}`);
      for (const id of in1) all1.add(id);
    }
    const total2 = await h.sink.count(indexName(v2), { tenant: h.spec.tenant });
    assert.equal(total2, (await l2.totals(`2+${pipelineRef(v2).fingerprint}`, h.spec.tenant)).chunks);
    // Every stored v2 chunk says it was written by version 2, and none of v1's chunk ids is in v2's index.
    const hits = await h.sink.search(indexName(v2), new Float32Array(384).fill(0.05), { topK: total2, tenant: h.spec.tenant });
    assert.equal(hits.length, total2);
    for (const hit of hits) {
      assert.equal(hit.metadata.pipelineVersion, '2');
      assert.ok(!all1.has(hit.id));
    }
    const longId = documentWorkflowId(pipelineRef(v2), h.uri(LONG_KEY));
    assert.match(longId, /^doc:.*-v2:.*:sha256:[0-9a-f]{64}$/);
    const described = await v2Client.temporal.workflow.getHandle(longId).describe();
    assert.equal(described.searchAttributes.SourceUri?.[0], h.uri(LONG_KEY), 'the full uri is searchable');
    assert.equal((await described.memo)?.sourceUri, h.uri(LONG_KEY));
  });

  it('an event reaches each version it is sent to, and each applies it to its own index', async () => {
    const key = 'docs/doc-0.txt';
    await h.put(key, 'A new text about rivers and deltas, rewritten. '.repeat(10));
    const [o1, o2] = await Promise.all([
      applyDocumentEvent(h.client.temporal, pipelineRef(h.spec), h.uri(key), { kind: 'upsert' }),
      applyDocumentEvent(v2Client.temporal, pipelineRef(v2), h.uri(key), { kind: 'upsert' }),
    ]);
    assert.deepEqual([o1.status, o2.status], ['ingested', 'ingested']);
    const b = await h.ledger.forVersion(2).get(h.spec.tenant, h.uri(key));
    assert.deepEqual((await h.sink.idsOfDocument(indexName(v2), h.spec.tenant, h.uri(key))).sort(), [...b!.chunkIds].sort());
  });

  it('a worker whose spec differs from the run (same version, other chunker) refuses the work with PipelineMismatch', async () => {
    await v2Workers.shutdown();
    const stale = validatePipelineSpec({ ...v2, chunker: { kind: 'recursive', chunkSize: 200, chunkOverlap: 0 } });
    const staleWorkers = await startWorkers({
      spec: stale,
      ...temporal,
      roles: ['ingest', 'embed'],
      s3: s3Access,
      baseDir: h.dataDir,
      logLevel: 'ERROR',
    });
    try {
      const key = 'docs/doc-1.txt';
      const before = (await h.sink.idsOfDocument(indexName(v2), h.spec.tenant, h.uri(key))).sort();
      await h.put(key, 'Glaciers, rewritten for the mismatch case. '.repeat(10));
      await assert.rejects(
        applyDocumentEvent(v2Client.temporal, pipelineRef(v2), h.uri(key), { kind: 'upsert' }),
        (err: unknown) => {
          assert.ok(err instanceof WorkflowFailedError);
          let cause: Error | undefined = err;
          while (cause?.cause instanceof Error) cause = cause.cause;
          assert.equal((cause as { type?: string }).type, 'PipelineMismatch');
          assert.match(cause!.message, /run workers with the same pipeline spec/);
          return true;
        },
      );
      assert.deepEqual((await h.sink.idsOfDocument(indexName(v2), h.spec.tenant, h.uri(key))).sort(), before, 'nothing written');
    } finally {
      await staleWorkers.shutdown();
    }
  });
});
