import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ChromaClient } from 'chromadb';
import { stack, uniqueName } from '../support/stack.ts';

describe('Chroma server with the chromadb client', () => {
  const client = new ChromaClient({ host: '127.0.0.1', port: stack.ports.chroma, ssl: false });
  const name = uniqueName('smoke');
  after(() => client.deleteCollection({ name }).catch(() => undefined));

  it('creates a collection, upserts embeddings, queries and deletes by metadata', async () => {
    assert.equal(typeof (await client.heartbeat()), 'number');
    // We always pass our own vectors, so the collection has no embedding function.
    const col = await client.createCollection({ name, embeddingFunction: null, configuration: { hnsw: { space: 'cosine' } } });
    await col.upsert({
      ids: ['c1', 'c2', 'c3'],
      embeddings: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      documents: ['cats purr', 'dogs bark', 'fish swim'],
      metadatas: [{ doc: 'a' }, { doc: 'a' }, { doc: 'b' }],
    });
    assert.equal(await col.count(), 3);

    const res = await col.query({ queryEmbeddings: [[0.9, 0.1, 0]], nResults: 2 });
    assert.deepEqual(res.documents[0], ['cats purr', 'dogs bark']);

    await col.delete({ where: { doc: 'a' } });
    const left = await col.get({});
    assert.deepEqual(left.ids, ['c3']);
  });
});
