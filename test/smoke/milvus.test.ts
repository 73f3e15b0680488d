import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DataType, MetricType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { stack, uniqueName } from '../support/stack.ts';

describe('Milvus Lite server with the Milvus Node SDK', () => {
  const client = new MilvusClient({ address: `127.0.0.1:${stack.ports.milvus}` });
  const collection = uniqueName('smoke', '_').replace(/-/g, '_');
  after(async () => {
    await client.dropCollection({ collection_name: collection }).catch(() => undefined);
    await client.closeConnection();
  });

  it('creates a collection with an HNSW index, upserts, searches and deletes by expression', async () => {
    const created = await client.createCollection({
      collection_name: collection,
      fields: [
        { name: 'id', data_type: DataType.VarChar, is_primary_key: true, max_length: 64 },
        { name: 'doc_id', data_type: DataType.VarChar, max_length: 512 },
        { name: 'text', data_type: DataType.VarChar, max_length: 4096 },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
      ],
    });
    assert.equal(created.error_code, 'Success', created.reason);
    const indexed = await client.createIndex({
      collection_name: collection,
      field_name: 'vector',
      index_type: 'HNSW',
      metric_type: MetricType.COSINE,
      params: { M: 16, efConstruction: 64 },
    });
    assert.equal(indexed.error_code, 'Success', indexed.reason);
    await client.loadCollection({ collection_name: collection });

    const rows = [
      { id: 'c1', doc_id: 'a', text: 'cats purr', vector: [1, 0, 0, 0] },
      { id: 'c2', doc_id: 'a', text: 'dogs bark', vector: [0, 1, 0, 0] },
      { id: 'c3', doc_id: 'b', text: 'fish swim', vector: [0, 0, 1, 0] },
    ];
    const up = await client.upsert({ collection_name: collection, data: rows });
    assert.equal(up.status.error_code, 'Success', up.status.reason);
    // An upsert of an existing id replaces it rather than adding a second row.
    await client.upsert({ collection_name: collection, data: [{ ...rows[0]!, text: 'cats purr loudly' }] });

    const found = await client.search({
      collection_name: collection,
      data: [[0.9, 0.1, 0, 0]],
      limit: 2,
      output_fields: ['text', 'doc_id'],
    });
    assert.deepEqual(
      found.results.map((r) => r.text),
      ['cats purr loudly', 'dogs bark'],
    );

    const del = await client.delete({ collection_name: collection, filter: 'doc_id == "a"' });
    assert.equal(del.status.error_code, 'Success', del.status.reason);
    const left = await client.query({ collection_name: collection, filter: 'id != ""', output_fields: ['id'] });
    assert.deepEqual(
      left.data.map((r) => r.id),
      ['c3'],
    );
  });
});
