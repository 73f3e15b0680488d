import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSinks } from '../../workers/build-deps.ts';
import { stack } from '../support/stack.ts';
import { Harness } from './support.ts';

describe('one pipeline writing to Chroma, Weaviate and Milvus at once', () => {
  const h = new Harness({
    sinks: [
      { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
      { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
      { kind: 'milvus', name: 'milvus', address: `127.0.0.1:${stack.ports.milvus}` },
    ],
  });
  let sinks: Awaited<ReturnType<typeof createSinks>>;
  before(async () => {
    sinks = await createSinks(h.spec);
    await h.start();
    for (let i = 0; i < 6; i++)
      await h.put(`fan/doc-${i}.txt`, `Document ${i} about ${['rivers', 'mountains', 'forests'][i % 3]}. `.repeat(40));
  });
  after(async () => {
    await Promise.all([...sinks.values()].map((s) => s.close()));
    await h.stop();
  });

  it('every sink holds exactly the chunks the ledger records, and the ledger has every sink ok', async () => {
    const counts = await h.ingestAll();
    assert.equal(counts.ingested, 6, JSON.stringify(await h.ledger.list({ tenant: h.spec.tenant, status: 'failed' })));
    for (const name of ['chroma', 'weaviate', 'milvus']) assert.ok((counts.upserted[name] ?? 0) > 0, name);
    for (let i = 0; i < 6; i++) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(`fan/doc-${i}.txt`));
      assert.deepEqual(Object.fromEntries(Object.entries(rec!.sinks).map(([k, v]) => [k, v.state])), {
        chroma: 'ok',
        weaviate: 'ok',
        milvus: 'ok',
      });
      for (const [name, sink] of sinks) {
        const ids = (await sink.idsOfDocument(h.index, h.spec.tenant, h.uri(`fan/doc-${i}.txt`))).sort();
        assert.deepEqual(ids, [...rec!.chunkIds].sort(), `${name} doc-${i}`);
      }
    }
  });
});
