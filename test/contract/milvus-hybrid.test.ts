// Native hybrid search (dense + BM25) on the real Milvus Lite: the BM25 function over the chunk text, Milvus's own
// fusion (RRF and the weighted ranker), the tenant filter on both halves, and the refusal of collections made before
// hybrid support.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { FailureType } from '../../connectors/shared/errors.ts';
import { createMilvusSink, milvusCollectionName, milvusCollectionSchema } from '../../connectors/sinks/milvus.ts';
import type { HybridQuery, SinkRecord } from '../../connectors/sinks/sink.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { isTyped, trackIndexes } from './sink.contract.ts';

const address = `127.0.0.1:${stack.ports.milvus}`;
const admin = new MilvusClient({ address, logLevel: 'error', telemetry: { enabled: false } });
const { sink, cleanup } = trackIndexes(createMilvusSink({ address }), async (made) => {
  for (const name of made) await admin.dropCollection({ collection_name: milvusCollectionName(name) });
});
after(async () => {
  await sink.close();
  await cleanup();
  await admin.closeConnection();
});

/** The fault code only one chunk of the tenant names. */
const CODE = 'QX-7731';
const base = uniqueName('mvh', '');

function rec(id: string, text: string, vector: number[], tenant = 't'): SinkRecord {
  return {
    id,
    vector: new Float32Array(vector),
    text,
    metadata: {
      tenant,
      sourceUri: `doc://${id}`,
      chunkIndex: 0,
      start: 0,
      end: text.length,
      contentHash: 'h',
      pipelineVersion: 'v',
    },
  };
}

// The query vector points at the handbook chunks; the chunk naming the code points away from it, so dense search ranks
// it last. The other tenant's chunk names the code AND lies on the query vector: only the tenant filter keeps it out.
const queryVector = new Float32Array([1, 0.05, 0]);
const chunks = [
  rec('retry', 'Workers retry failed activities with exponential backoff.', [1, 0.1, 0]),
  rec('cache', 'The embedding cache keeps vectors by model and chunk text.', [1, 0.2, 0.05]),
  rec('alias', 'Blue/green index versions let readers switch in one alias move.', [0.9, 0.3, 0.1]),
  rec('sched', 'Schedules start periodic reindex runs; reconciliation repairs lost chunks.', [0.8, 0.4, 0.2]),
  rec('tenant', 'Each tenant sees only its own chunks.', [0.6, 0.6, 0.3]),
  rec('code', `A pump that reports fault ${CODE} has lost prime; close the outlet valve and bleed the line.`, [0, 0, 1]),
];
const foreign = rec('foreign', `Fault ${CODE} in the other tenant's plant.`, [1, 0.05, 0], 'u');
const ids = (hits: { id: string }[]) => hits.map((h) => h.id);
const q = (alpha: number, fusion: HybridQuery['fusion'], text = CODE): HybridQuery => ({
  text,
  vector: queryVector,
  alpha,
  fusion,
});

describe('Milvus hybrid search (native BM25, real Milvus Lite)', () => {
  const name = `${base}-h`;
  before(async () => {
    await sink.ensureIndex({ name, dims: 3, metric: 'cosine' });
    await sink.upsert(name, [...chunks, foreign]);
  });

  it('makes a BM25 function over the text into a sparse field, filled on writes that never send it', async () => {
    const desc = await admin.describeCollection({ collection_name: milvusCollectionName(name) });
    const fn = desc.schema.functions.find((f) => String(f.type) === 'BM25');
    assert.deepEqual([fn?.input_field_names, fn?.output_field_names], [['text'], ['text_bm25']]);
    const sparse = desc.schema.fields.find((f) => f.name === 'text_bm25');
    assert.equal(sparse?.data_type, 'SparseFloatVector');
    const idx = await admin.describeIndex({ collection_name: milvusCollectionName(name), field_name: 'text_bm25' });
    assert.equal(idx.index_descriptions[0]?.params.find((p) => p.key === 'metric_type')?.value, 'BM25');
    const [row] = (
      await admin.query({ collection_name: milvusCollectionName(name), filter: 'id == "code"', output_fields: ['text_bm25'] })
    ).data;
    assert.ok(Object.keys((row?.text_bm25 as object | undefined) ?? {}).length > 5, 'the function filled the field');
  });

  it('dense search alone ranks the chunk naming the code last (the premise of the keyword tests)', async () => {
    const hits = await sink.search(name, queryVector, { topK: 6, tenant: 't' });
    assert.equal(hits.length, 6);
    assert.equal(hits[5]!.id, 'code');
  });

  it('keyword only (alpha 0) finds the one chunk naming the code, and only chunks with a query word', async () => {
    for (const fusion of ['rrf', 'relative-score'] as const) {
      const hits = await sink.hybridSearch!(name, q(0, fusion), { topK: 5, tenant: 't' });
      assert.deepEqual(ids(hits), ['code'], fusion);
      assert.ok(hits[0]!.score > 0, `a BM25 score is positive, got ${hits[0]!.score}`);
      assert.deepEqual(hits[0]!.metadata, chunks[5]!.metadata);
      assert.equal(hits[0]!.text, chunks[5]!.text);
    }
    // Several matches come back best first: "chunks" is in two texts, "chunk" in one (no stemming).
    const words = await sink.hybridSearch!(name, q(0, 'rrf', 'own chunks'), { topK: 5, tenant: 't' });
    assert.deepEqual(ids(words), ['tenant', 'sched']);
    assert.ok(words[0]!.score > words[1]!.score);
  });

  it('rrf and relative-score fusion both put the chunk naming the code first', async () => {
    const rrf = await sink.hybridSearch!(name, q(0.5, 'rrf', `what does ${CODE} mean`), { topK: 6, tenant: 't' });
    assert.equal(rrf[0]!.id, 'code', ids(rrf).join(' '));
    // Reciprocal-rank fusion, k = 60: first by keyword, sixth by vector.
    assert.ok(Math.abs(rrf[0]!.score - (1 / 61 + 1 / 66)) < 1e-6, `rrf score ${rrf[0]!.score}`);
    const rel = await sink.hybridSearch!(name, q(0.5, 'relative-score'), { topK: 6, tenant: 't' });
    assert.equal(rel[0]!.id, 'code', ids(rel).join(' '));
  });

  it("relative-score weighs Milvus's normalised halves by alpha: alpha (1 + cos) / 2 + (1 - alpha) 2 atan(bm25) / pi", async () => {
    const [bm25] = await sink.hybridSearch!(name, q(0, 'relative-score'), { topK: 1, tenant: 't' });
    const cos = (await sink.search(name, queryVector, { topK: 6, tenant: 't' })).find((h) => h.id === 'code')!.score;
    for (const alpha of [0.3, 0.7]) {
      const hits = await sink.hybridSearch!(name, q(alpha, 'relative-score'), { topK: 6, tenant: 't' });
      const code = hits.find((h) => h.id === 'code');
      const want = (alpha * (1 + cos)) / 2 + ((1 - alpha) * 2 * Math.atan(bm25!.score)) / Math.PI;
      assert.ok(code && Math.abs(code.score - want) < 1e-4, `alpha ${alpha}: score ${code?.score}, want ${want}`);
    }
    // A heavy vector half puts the nearest chunk first instead.
    const vectorHeavy = await sink.hybridSearch!(name, q(0.9, 'relative-score'), { topK: 6, tenant: 't' });
    assert.equal(vectorHeavy[0]!.id, 'retry', ids(vectorHeavy).join(' '));
  });

  it('alpha 1 is exactly the plain vector search, with either fusion', async () => {
    const plain = await sink.search(name, queryVector, { topK: 4, tenant: 't' });
    for (const fusion of ['rrf', 'relative-score'] as const) {
      assert.deepEqual(await sink.hybridSearch!(name, q(1, fusion), { topK: 4, tenant: 't' }), plain, fusion);
    }
  });

  it("never returns another tenant's chunk naming the same code, though it is indexed and nearest to the query", async () => {
    for (const alpha of [0, 0.5, 1]) {
      for (const fusion of ['rrf', 'relative-score'] as const) {
        const hits = await sink.hybridSearch!(name, q(alpha, fusion), { topK: 10, tenant: 't' });
        assert.ok(hits.length > 0);
        for (const h of hits) assert.equal(h.metadata.tenant, 't', `alpha ${alpha} ${fusion}: ${h.id}`);
      }
    }
    // The filter is what keeps it out: without one, and for its own tenant, it is found.
    assert.deepEqual(ids(await sink.hybridSearch!(name, q(0, 'rrf'), { topK: 5 })).sort(), ['code', 'foreign']);
    assert.equal((await sink.hybridSearch!(name, q(0.5, 'rrf'), { topK: 5 }))[0]!.id, 'foreign');
    assert.deepEqual(ids(await sink.hybridSearch!(name, q(0.5, 'rrf'), { topK: 5, tenant: 'u' })), ['foreign']);
  });

  it('follows rewrites: an upsert that drops the code from the text drops it from the keyword index', async () => {
    const other = `${base}-rw`;
    await sink.ensureIndex({ name: other, dims: 3, metric: 'cosine' });
    await sink.upsert(other, chunks);
    assert.deepEqual(ids(await sink.hybridSearch!(other, q(0, 'rrf'), { topK: 5, tenant: 't' })), ['code']);
    await sink.upsert(other, [{ ...chunks[5]!, text: 'A pump that has lost prime needs bleeding.' }]);
    assert.deepEqual(await sink.hybridSearch!(other, q(0, 'rrf'), { topK: 5, tenant: 't' }), []);
    assert.equal(await sink.count(other), 6);
  });

  it('refuses rrf with an alpha it cannot weigh, a bad query, and topK 0 returns nothing', async () => {
    await assert.rejects(
      sink.hybridSearch!(name, q(0.3, 'rrf'), { topK: 3 }),
      (e: Error) => isTyped(FailureType.InvalidInput, false)(e) && /relative-score/.test(e.message),
    );
    await assert.rejects(sink.hybridSearch!(name, q(1.5, 'rrf'), { topK: 3 }), isTyped(FailureType.InvalidInput, false));
    await assert.rejects(sink.hybridSearch!(name, q(0.5, 'rrf', ' '), { topK: 3 }), isTyped(FailureType.InvalidInput, false));
    await assert.rejects(
      sink.hybridSearch!(name, { ...q(0.5, 'rrf'), vector: new Float32Array([1, 0]) }, { topK: 3 }),
      isTyped(FailureType.InvalidInput, false),
    );
    await assert.rejects(sink.hybridSearch!(name, q(0.5, 'rrf'), { topK: 20_000 }), isTyped(FailureType.InvalidInput, false));
    assert.deepEqual(await sink.hybridSearch!(name, q(0.5, 'rrf'), { topK: 0 }), []);
  });

  it('ensureIndex completes a collection whose BM25 index was never made (a crash after createCollection)', async () => {
    const half = `${base}-half`;
    const collection = milvusCollectionName(half);
    // What ensureIndex makes, up to the vector index, with the sparse index left out.
    const made = await admin.createCollection({
      collection_name: collection,
      ...milvusCollectionSchema(3),
      properties: { 'ragline.index': half },
      consistency_level: 'Strong',
    });
    assert.equal(made.error_code, 'Success', made.reason);
    const missing = await admin.describeIndex({ collection_name: collection, field_name: 'text_bm25' });
    assert.equal(missing.status.code, 700, 'no sparse index yet');
    await sink.ensureIndex({ name: half, dims: 3, metric: 'cosine' });
    const idx = await admin.describeIndex({ collection_name: collection, field_name: 'text_bm25' });
    assert.equal(idx.index_descriptions[0]?.params.find((p) => p.key === 'metric_type')?.value, 'BM25');
    await sink.upsert(half, chunks);
    assert.deepEqual(ids(await sink.hybridSearch!(half, q(0, 'rrf'), { topK: 5, tenant: 't' })), ['code']);
  });

  it('keeps a collection made before hybrid support working, and refuses hybrid on it with a typed error', async () => {
    const old = `${base}-old`;
    const varchar = (n: string, max_length: number) => ({ name: n, data_type: DataType.VarChar, max_length });
    // The schema ensureIndex made before hybrid support: no analyzer on the text, no BM25 field or function.
    const made = await admin.createCollection({
      collection_name: milvusCollectionName(old),
      fields: [
        { ...varchar('id', 64), is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: 3 },
        varchar('text', 65_535),
        { ...varchar('tenant', 256), is_partition_key: true },
        varchar('source_uri', 4096),
        varchar('content_hash', 256),
        varchar('pipeline_version', 256),
        varchar('heading_path', 4096),
        { name: 'chunk_index', data_type: DataType.Int64 },
        { name: 'start', data_type: DataType.Int64 },
        { name: 'end', data_type: DataType.Int64 },
      ],
      properties: { 'ragline.index': old },
      consistency_level: 'Strong',
    });
    assert.equal(made.error_code, 'Success', made.reason);
    await sink.ensureIndex({ name: old, dims: 3, metric: 'cosine' });
    await sink.upsert(old, chunks);
    assert.equal(await sink.count(old, { tenant: 't' }), 6);
    assert.equal((await sink.search(old, queryVector, { topK: 1, tenant: 't' }))[0]!.id, 'retry');
    assert.deepEqual(await sink.idsOfDocument(old, 't', 'doc://code'), ['code']);
    const page = await sink.scanChunks(old, { tenant: 't', limit: 100 });
    assert.deepEqual(page.chunks.map((c) => c.id).sort(), ids(chunks).sort());
    for (const alpha of [0, 0.5, 1]) {
      await assert.rejects(
        sink.hybridSearch!(old, q(alpha, 'rrf'), { topK: 3, tenant: 't' }),
        (e: Error) =>
          isTyped(FailureType.InvalidInput, false)(e) &&
          /predates hybrid support/.test(e.message) &&
          /ingest reindex/.test(e.message),
      );
    }
  });
});
