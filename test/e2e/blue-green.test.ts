import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { indexAlias, indexName } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { pipelineStamp } from '../../workflows/types.ts';
import { pipelineRef } from '../../pipeline/ref.ts';
import { stack } from '../support/stack.ts';
import { Harness } from './support.ts';

// Blue/green index versions on the real Chroma (stored pointer), Weaviate and Milvus (native aliases): version 2 is
// built beside version 1 while readers keep seeing version 1, promotion validates it against the ledger, switches
// readers, and drops version 1 after the grace period; a later promotion is rolled back.

const TOPICS = ['rivers and deltas', 'mountain glaciers', 'boreal forests', 'coral reefs'];

describe('blue/green index versions across Chroma, Weaviate and Milvus', () => {
  const h = new Harness({
    sinks: [
      { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
      { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
      { kind: 'milvus', name: 'milvus', address: `127.0.0.1:${stack.ports.milvus}` },
    ],
  });
  let sinks: Map<string, Sink>;
  const alias = indexAlias(h.spec);
  const v1 = indexName(h.spec);
  let v2 = '';

  async function aliases(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const [name, sink] of sinks) out[name] = await sink.getAlias(alias);
    return out;
  }
  const everywhere = (index: string | undefined) => ({ chroma: index, weaviate: index, milvus: index });

  before(async () => {
    sinks = await createSinks(h.spec);
    await h.start();
    for (let i = 0; i < TOPICS.length; i++) {
      await h.put(`${i < 2 ? 'a' : 'b'}/doc-${i}.txt`, `A report on ${TOPICS[i]}, section ${i}. `.repeat(30));
    }
  });
  after(async () => {
    for (const [, sink] of sinks) {
      await sink.deleteAlias(alias).catch(() => undefined);
      for (const v of [1, 2, 3]) await sink.dropIndex(`${h.spec.name}-v${v}`).catch(() => undefined);
      await sink.close();
    }
    await h.stop();
  });

  it('the first version goes live as it is written: every sink aliases it, the ledger records it current', async () => {
    const counts = await h.ingestAll();
    assert.equal(counts.ingested, TOPICS.length);
    assert.deepEqual(await aliases(), everywhere(v1));
    const history = await h.ledger.listIndexVersions(alias);
    assert.deepEqual(history.map((v) => [v.sink, v.index, v.state]).sort(), [
      ['chroma', v1, 'current'],
      ['milvus', v1, 'current'],
      ['weaviate', v1, 'current'],
    ]);
  });

  it('version 2 is built beside version 1; readers keep version 1; a delete reaches both', async () => {
    const v1Chunks = await sinks.get('chroma')!.count(v1, { tenant: h.spec.tenant });
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 32, chunkOverlap: 4 } });
    v2 = indexName(h.spec);
    const counts = await h.ingestAll('a/');
    assert.equal(counts.ingested, 2);
    assert.deepEqual(await aliases(), everywhere(v1));
    for (const [name, sink] of sinks) {
      assert.equal(await sink.count(v1, { tenant: h.spec.tenant }), v1Chunks, `${name} keeps version 1 whole`);
      assert.ok((await sink.count(v2, { tenant: h.spec.tenant })) > 0, `${name} has version 2`);
    }
    const gone = h.uri('a/doc-1.txt');
    await h.remove('a/doc-1.txt');
    assert.equal((await h.client.deleteDocument(gone)).status, 'deleted');
    for (const [name, sink] of sinks) {
      for (const index of [v1, v2])
        assert.deepEqual(await sink.idsOfDocument(index, h.spec.tenant, gone), [], `${name} ${index}`);
    }
  });

  it('promotion refuses an incomplete version and switches nothing', async () => {
    const handle = await h.client.promote({ retireAfterMs: 60_000 });
    await assert.rejects(handle.switched(), (e: unknown) => {
      assert.ok(e instanceof WorkflowFailedError);
      let cause: Error | undefined = e;
      while (cause?.cause instanceof Error) cause = cause.cause;
      assert.match(cause!.message, /2 of 3 live documents are still at an older pipeline version/);
      return true;
    });
    assert.deepEqual(await aliases(), everywhere(v1));
  });

  it('a complete version validates against the ledger, goes live everywhere, and version 1 is dropped after the grace period', async () => {
    const counts = await h.ingestAll();
    assert.equal(counts.ingested + counts.unchanged, 3);
    const expected = await h.ledger.totals(pipelineStamp(pipelineRef(h.spec)));
    const handle = await h.client.promote({ retireAfterMs: 2_000 });
    const switched = await handle.switched();
    assert.deepEqual(await aliases(), everywhere(v2));
    for (const name of sinks.keys()) assert.deepEqual(switched.sinks[name], { chunks: expected.chunks, previous: v1 });

    const done = await handle.result();
    assert.equal(done.phase, 'done');
    for (const name of sinks.keys()) assert.equal(done.sinks[name]!.dropped, true, name);
    const history = await h.ledger.listIndexVersions(alias);
    for (const name of sinks.keys()) {
      const states = Object.fromEntries(history.filter((v) => v.sink === name).map((v) => [v.index, v.state]));
      assert.deepEqual(states, { [v1]: 'retired', [v2]: 'current' }, name);
    }
    // Readers resolve the alias and find version 2's chunks.
    const vector = (
      await sinks.get('milvus')!.search(v2, new Float32Array(384).fill(0.05), { topK: 1, tenant: h.spec.tenant })
    )[0];
    assert.equal(vector?.metadata.pipelineVersion, '2');
  });

  it('a rollback during the grace period puts readers back on the previous version and keeps the new one', async () => {
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 48, chunkOverlap: 4 } });
    const v3 = indexName(h.spec);
    assert.equal((await h.ingestAll()).ingested, 3);
    const handle = await h.client.promote({ retireAfterMs: 120_000 });
    assert.equal((await handle.switched()).phase, 'grace');
    assert.deepEqual(await aliases(), everywhere(v3));
    await handle.rollback();
    assert.equal((await handle.result()).phase, 'rolled-back');
    assert.deepEqual(await aliases(), everywhere(v2));
    for (const [name, sink] of sinks) assert.ok((await sink.count(v3, { tenant: h.spec.tenant })) > 0, name);
  });
});
