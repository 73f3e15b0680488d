import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import weaviate, { type WeaviateClient } from 'weaviate-client';
import { stack, uniqueName } from '../support/stack.ts';

describe('Weaviate server with weaviate-client', () => {
  let client: WeaviateClient;
  const name = uniqueName('Smoke', '_').replace(/-/g, '_');

  before(async () => {
    client = await weaviate.connectToLocal({ host: '127.0.0.1', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc });
  });
  after(async () => {
    await client.collections.delete(name).catch(() => undefined);
    await client.close();
  });

  it('creates a collection, batch-inserts vectors over gRPC, queries by vector and deletes', async () => {
    assert.equal(await client.isReady(), true);
    const col = await client.collections.create({
      name,
      properties: [
        { name: 'text', dataType: 'text' },
        { name: 'docId', dataType: 'text', tokenization: 'field' }, // ids must match whole, not as words
      ],
      vectorizers: weaviate.configure.vectors.selfProvided(),
    });
    const objects = [
      { id: '00000000-0000-4000-8000-000000000001', properties: { text: 'cats purr', docId: 'a' }, vectors: [1, 0, 0] },
      { id: '00000000-0000-4000-8000-000000000002', properties: { text: 'dogs bark', docId: 'a' }, vectors: [0, 1, 0] },
      { id: '00000000-0000-4000-8000-000000000003', properties: { text: 'fish swim', docId: 'b' }, vectors: [0, 0, 1] },
    ];
    const res = await col.data.insertMany(objects);
    assert.equal(res.hasErrors, false, JSON.stringify(res.errors));

    const hits = await col.query.nearVector([0.9, 0.1, 0], { limit: 2, returnMetadata: ['distance'] });
    assert.deepEqual(
      hits.objects.map((o) => o.properties.text),
      ['cats purr', 'dogs bark'],
    );

    await col.data.deleteMany(col.filter.byProperty('docId').equal('a'));
    const left = await col.aggregate.overAll();
    assert.equal(left.totalCount, 1);
    assert.equal((await col.query.fetchObjectById(objects[2]!.id))?.properties.text, 'fish swim');
  });
});
