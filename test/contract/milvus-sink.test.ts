import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { FailureType } from '../../connectors/shared/errors.ts';
import {
  createMilvusSink,
  mapMilvusError,
  milvusCollectionName,
  milvusString,
  type MilvusSinkConfig,
} from '../../connectors/sinks/milvus.ts';
import type { Sink, SinkRecord } from '../../connectors/sinks/sink.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { isTyped, sinkContract, trackIndexes } from './sink.contract.ts';

const address = `127.0.0.1:${stack.ports.milvus}`;
let adminClient: MilvusClient | undefined;
const admin = () => (adminClient ??= new MilvusClient({ address, logLevel: 'error', telemetry: { enabled: false } }));
after(async () => adminClient?.closeConnection());

/** A sink that remembers the indexes it was asked to create, so cleanup can drop exactly those. */
function trackedSink(config: MilvusSinkConfig): { sink: Sink; cleanup(): Promise<void> } {
  return trackIndexes(createMilvusSink(config), async (made) => {
    for (const name of made) await admin().dropCollection({ collection_name: milvusCollectionName(name) });
  });
}

function rec(id: string, vector: number[], tenant = 't', sourceUri = 'doc://x', i = 0): SinkRecord {
  return {
    id,
    vector: new Float32Array(vector),
    text: `text ${i}`,
    metadata: { tenant, sourceUri, chunkIndex: i, start: i * 10, end: i * 10 + 9, contentHash: 'h', pipelineVersion: 'v' },
  };
}

sinkContract('milvus', async () => trackedSink({ address }));

describe('milvusString', () => {
  it('quotes a value, escaping backslash, double quote, CR and LF only', () => {
    assert.equal(milvusString('doc://a'), '"doc://a"');
    assert.equal(milvusString(''), '""');
    assert.equal(milvusString('say "hi"'), '"say \\"hi\\""');
    assert.equal(milvusString('C:\\dir\\'), '"C:\\\\dir\\\\"');
    assert.equal(milvusString('\\"'), '"\\\\\\""');
    assert.equal(milvusString('a\nb\rc'), '"a\\nb\\rc"');
    assert.equal(milvusString("it's\ttab \u0001 ü 😀"), `"it's\ttab \u0001 ü 😀"`);
  });
});

describe('milvusCollectionName', () => {
  it('maps characters Milvus does not allow to _ and prefixes names that start with a digit', () => {
    assert.equal(milvusCollectionName('docs_v1'), 'docs_v1');
    assert.equal(milvusCollectionName('rag-docs.v2'), 'rag_docs_v2');
    assert.equal(milvusCollectionName('2024-index'), '_2024_index');
    assert.equal(milvusCollectionName('_x'), '_x');
    assert.throws(() => milvusCollectionName(''), isTyped(FailureType.InvalidInput, false));
    assert.throws(() => milvusCollectionName('x'.repeat(256)), isTyped(FailureType.InvalidInput, false));
  });
});

describe('mapMilvusError', () => {
  const status = (error_code: string | number, code: number, retriable = false) => ({
    error_code,
    code,
    retriable,
    reason: 'r',
    detail: '',
    extra_info: {},
  });
  const grpc = (code: number) => Object.assign(new Error(`${code} grpc`), { code });
  const cases: [string, unknown, FailureType][] = [
    ['a missing collection', status('CollectionNotExists', 100), FailureType.SinkRejected],
    ['a bad expression (Milvus Lite)', status(6, 6), FailureType.SinkRejected],
    ['an existing collection (thrown by createCollection)', status('UnexpectedError', 1), FailureType.SinkRejected],
    ['a rate limit', status('RateLimit', 8, true), FailureType.RateLimited],
    ['a retriable status', status('UnexpectedError', 4, true), FailureType.Unavailable],
    ['service unavailable', status('UnexpectedError', 2), FailureType.Unavailable],
    ['gRPC UNAVAILABLE', grpc(14), FailureType.Unavailable],
    ['gRPC DEADLINE_EXCEEDED', grpc(4), FailureType.Unavailable],
    ['gRPC RESOURCE_EXHAUSTED', grpc(8), FailureType.RateLimited],
    ['gRPC UNAUTHENTICATED', grpc(16), FailureType.SinkRejected],
    ['gRPC INVALID_ARGUMENT', grpc(3), FailureType.SinkRejected],
  ];
  for (const [what, err, type] of cases) {
    it(`maps ${what} to ${type}`, () => assert.equal(mapMilvusError(err, 'op').type, type));
  }
});

describe('Milvus sink specifics', () => {
  const { sink, cleanup } = trackedSink({ address, batchSize: 7 });
  after(async () => {
    await sink.close();
    await cleanup();
  });
  const base = uniqueName('mvs', '');

  it('keys partitions by tenant and records the owning index name', async () => {
    const name = `${base}-schema`;
    await sink.ensureIndex({ name, dims: 3, metric: 'cosine' });
    const desc = await admin().describeCollection({ collection_name: milvusCollectionName(name) });
    const tenant = desc.schema.fields.find((f) => f.name === 'tenant');
    assert.equal(tenant?.is_partition_key, true);
    assert.deepEqual(
      desc.properties.map((p) => [p.key, p.value]),
      [['ragline.index', name]],
    );
    await assert.rejects(
      sink.ensureIndex({ name: `${base}_schema`, dims: 3, metric: 'cosine' }),
      isTyped(FailureType.SinkRejected, false),
    );
  });

  it('round-trips quotes, backslashes and newlines in tenant and source uri through every filter', async () => {
    const name = `${base}esc`;
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const uri = 's3://b/he said "hi"\\path\\\nline2.txt';
    const tenant = 'o"brien\\';
    const doc = [0, 1, 2].map((i) => rec(`q${i}`, [1, i], tenant, uri, i));
    // A uri shaped to break out of a naively quoted filter: it must match only itself.
    const sneaky = rec('s0', [0, 1], tenant, 'x" || source_uri != "');
    const plain = rec('p0', [1, 1], 'o', uri);
    await sink.upsert(name, [...doc, sneaky, plain]);
    assert.deepEqual((await sink.idsOfDocument(name, tenant, uri)).sort(), ['q0', 'q1', 'q2']);
    assert.equal(await sink.count(name, { tenant, sourceUri: uri }), 3);
    assert.equal(await sink.count(name, { sourceUri: uri }), 4);
    const hits = await sink.search(name, new Float32Array([1, 0]), { topK: 10, tenant });
    assert.deepEqual(hits.map((h) => h.id).sort(), ['q0', 'q1', 'q2', 's0']);
    assert.deepEqual(hits.find((h) => h.id === 'q2')?.metadata, doc[2]!.metadata);
    await sink.deleteDocument(name, tenant, 'x" || source_uri != "');
    assert.equal(await sink.count(name), 4);
    await sink.deleteDocument(name, tenant, uri);
    assert.deepEqual(await sink.idsOfDocument(name, tenant, uri), []);
    assert.equal(await sink.count(name), 1);
    await sink.deleteIds(name, ['p0', 'no"such\\id']);
    assert.equal(await sink.count(name), 0);
  });

  it('serializes concurrent writes to one collection', async () => {
    const name = `${base}conc`;
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const writes = Array.from({ length: 6 }, (_, w) =>
      sink.upsert(
        name,
        Array.from({ length: 20 }, (_, i) => rec(`w${w}-${i}`, [1, i], 't', `doc://${w}`, i)),
      ),
    );
    await Promise.all([...writes, sink.deleteDocument(name, 't', 'doc://none'), sink.deleteIds(name, ['w9-9'])]);
    assert.equal(await sink.count(name), 120);
    await Promise.all([0, 1, 2].map((w) => sink.deleteDocument(name, 't', `doc://${w}`)));
    assert.equal(await sink.count(name), 60);
  });

  it('returns every id of a document larger than one Milvus result window (16,384)', async () => {
    const name = `${base}big`;
    await sink.ensureIndex({ name, dims: 2, metric: 'l2' });
    const big = createMilvusSink({ address, batchSize: 5000 });
    try {
      const rows = Array.from({ length: 17_000 }, (_, i) => rec(`b${i}`, [i, 1], 't', 'doc://huge', i));
      await big.upsert(name, rows);
      const ids = await big.idsOfDocument(name, 't', 'doc://huge');
      assert.equal(ids.length, 17_000);
      assert.equal(new Set(ids).size, 17_000);
    } finally {
      await big.close();
    }
  });

  it('scans ids bunched under one prefix and ids that are not lowercase hex, each exactly once', async () => {
    const name = `${base}scan`;
    await sink.ensureIndex({ name, dims: 2, metric: 'l2' });
    const big = createMilvusSink({ address, batchSize: 5000 });
    try {
      // 1,500 ids under one prefix (as `uuid` in the contract makes them): more than a range may hold, down to depth 8.
      const bunched = Array.from({ length: 1500 }, (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);
      const spread = Array.from({ length: 300 }, () => randomUUID());
      const odd = ['A', 'Zed', '-', '#x', '3', '3-x', '30', '3f', '4', 'ü', '~', 'g', 'ff', 'fffffffff', 'x"y\\z', 'ÿ😀'];
      const ids = [...bunched, ...spread, ...odd];
      await big.upsert(
        name,
        ids.map((id, i) => rec(id, [i, 1], 't', `doc://${i % 5}`, i)),
      );
      await big.upsert(name, [rec('other-tenant', [1, 1], 'u')]);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 200; pages++) {
        // Pages alternate between two sinks: a cursor is plain text that any worker continues from.
        const page = await (pages % 2 ? big : sink).scanChunks(name, { tenant: 't', limit: 100, cursor });
        assert.ok(page.chunks.length <= 100);
        for (const c of page.chunks) {
          seen.push(c.id);
          assert.equal(c.sourceUri, `doc://${ids.indexOf(c.id) % 5}`, c.id);
        }
        cursor = page.cursor;
        if (cursor === undefined) break;
      }
      assert.equal(cursor, undefined, 'the scan ends');
      assert.equal(seen.length, ids.length, 'no id twice');
      assert.deepEqual([...seen].sort(), [...ids].sort());
    } finally {
      await big.close();
    }
  });

  it('scans rows written into the range a page ended in, more than a range may hold, without skipping any', async () => {
    const name = `${base}scanw`;
    await sink.ensureIndex({ name, dims: 2, metric: 'l2' });
    const big = createMilvusSink({ address, batchSize: 5000 });
    try {
      const ids = Array.from({ length: 300 }, () => randomUUID());
      await big.upsert(
        name,
        ids.map((id, i) => rec(id, [i, 1], 't', 'doc://w', i)),
      );
      const seen = new Set<string>();
      let cursor: string | undefined;
      let added: string[] = [];
      for (let pages = 0; pages < 500; pages++) {
        const page = await sink.scanChunks(name, { tenant: 't', limit: 20, cursor });
        for (const c of page.chunks) seen.add(c.id);
        cursor = page.cursor;
        if (cursor === undefined) break;
        // The first page that ends inside a range (the cursor is this sink's own JSON): 200 rows right after its last
        // id, more than the 81 a reply of a 20-chunk scan may hold, so the rest of that range must be narrowed.
        const after = (JSON.parse(cursor) as { a?: string }).a;
        if (added.length === 0 && after !== undefined) {
          added = Array.from({ length: 200 }, (_, i) => `${after}-${i}`);
          await big.upsert(
            name,
            added.map((id, i) => rec(id, [i, 2], 't', 'doc://w', i)),
          );
        }
      }
      assert.equal(cursor, undefined, 'the scan ends');
      assert.equal(added.length, 200, 'a page ended inside a range');
      assert.deepEqual(
        [...ids, ...added].filter((id) => !seen.has(id)),
        [],
        'none skipped',
      );
    } finally {
      await big.close();
    }
  });

  it('refuses text over the VarChar capacity before writing anything, and stores text at it', async () => {
    const name = `${base}text`;
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const full = { ...rec('full', [1, 0]), text: 'é'.repeat(32_767) + 'x' }; // 65,535 bytes
    const over = { ...rec('over', [0, 1]), text: full.text + 'x' };
    await assert.rejects(sink.upsert(name, [full, over]), isTyped(FailureType.InvalidInput, false));
    assert.equal(await sink.count(name), 0);
    await assert.rejects(sink.upsert(name, [rec('x'.repeat(65), [1, 0])]), isTyped(FailureType.InvalidInput, false));
    await sink.upsert(name, [full]);
    const [hit] = await sink.search(name, new Float32Array([1, 0]), { topK: 1 });
    assert.equal(hit!.text, full.text);
  });

  it('refuses a heading path over its VarChar capacity before writing anything', async () => {
    const name = `${base}hp`;
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const withPath = (id: string, headingPath: string[]) => {
      const r = rec(id, [1, 0]);
      return { ...r, metadata: { ...r.metadata, headingPath } };
    };
    // JSON text of one heading of n chars is n + 4 bytes: ["…"].
    const full = withPath('full', ['h'.repeat(4092)]);
    await assert.rejects(
      sink.upsert(name, [full, withPath('over', ['h'.repeat(4093)])]),
      isTyped(FailureType.InvalidInput, false),
    );
    assert.equal(await sink.count(name), 0);
    await sink.upsert(name, [full]);
    const [hit] = await sink.search(name, new Float32Array([1, 0]), { topK: 1 });
    assert.deepEqual(hit!.metadata, full.metadata);
  });

  it('keeps writing to a collection made before heading_path existed, leaving the path out', async () => {
    const name = `${base}legacy`;
    const collection = milvusCollectionName(name);
    const varchar = (n: string, max_length: number) => ({ name: n, data_type: DataType.VarChar, max_length });
    // The schema ensureIndex made before heading_path, owner property included.
    await admin().createCollection({
      collection_name: collection,
      fields: [
        { ...varchar('id', 64), is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: 2 },
        varchar('text', 65_535),
        { ...varchar('tenant', 256), is_partition_key: true },
        varchar('source_uri', 4096),
        varchar('content_hash', 256),
        varchar('pipeline_version', 256),
        { name: 'chunk_index', data_type: DataType.Int64 },
        { name: 'start', data_type: DataType.Int64 },
        { name: 'end', data_type: DataType.Int64 },
      ],
      properties: { 'ragline.index': name },
      consistency_level: 'Strong',
    });
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const r = rec('a', [1, 0]);
    await sink.upsert(name, [{ ...r, metadata: { ...r.metadata, headingPath: ['Guide'] } }]);
    const [hit] = await sink.search(name, new Float32Array([1, 0]), { topK: 1 });
    assert.equal(hit!.id, 'a');
    assert.deepEqual(hit!.metadata, r.metadata, 'stored and read back without the path');
  });

  it('stores the metric in the index, scores by it, and refuses another metric or dimension', async () => {
    const dot = `${base}dot`;
    await sink.ensureIndex({ name: dot, dims: 2, metric: 'dot' });
    await sink.upsert(dot, [rec('a', [2, 0])]);
    const [hit] = await sink.search(dot, new Float32Array([1.5, 0]), { topK: 1 });
    assert.ok(Math.abs(hit!.score - 3) < 1e-4, `dot product score 3, got ${hit!.score}`);
    await assert.rejects(sink.ensureIndex({ name: dot, dims: 2, metric: 'l2' }), isTyped(FailureType.SinkRejected, false));
    const l2 = `${base}l2`;
    await sink.ensureIndex({ name: l2, dims: 2, metric: 'l2' });
    await sink.upsert(l2, [rec('a', [1, 1])]);
    const [near] = await sink.search(l2, new Float32Array([1, 3]), { topK: 1 });
    assert.ok(Math.abs(near!.score + 4) < 1e-4, `l2 score is the negated squared distance -4, got ${near!.score}`);
    await assert.rejects(sink.search(l2, new Float32Array([1, 3]), { topK: 20_000 }), isTyped(FailureType.InvalidInput, false));
  });

  it('refuses a collection it did not create, and an index that does not exist', async () => {
    const name = `${base}foreign`;
    const collection = milvusCollectionName(name);
    await admin().createCollection({
      collection_name: collection,
      fields: [
        { name: 'id', data_type: DataType.VarChar, is_primary_key: true, max_length: 64 },
        { name: 'vector', data_type: DataType.FloatVector, dim: 2 },
      ],
    });
    try {
      await assert.rejects(sink.ensureIndex({ name, dims: 2, metric: 'cosine' }), isTyped(FailureType.SinkRejected, false));
    } finally {
      await admin().dropCollection({ collection_name: collection });
    }
    await assert.rejects(sink.count(`${base}missing`), isTyped(FailureType.SinkRejected, false));
    await assert.rejects(sink.upsert(`${base}missing`, [rec('a', [1, 0])]), isTyped(FailureType.SinkRejected, false));
  });

  it('reports a server that is not there as unavailable and retryable', async () => {
    // Port 9 (discard) has no listener on this machine, so the connection is refused.
    const down = createMilvusSink({ address: '127.0.0.1:9', timeoutMs: 2000 });
    await assert.rejects(
      down.ensureIndex({ name: `${base}down`, dims: 2, metric: 'l2' }),
      isTyped(FailureType.Unavailable, true),
    );
    await assert.rejects(down.count(`${base}down`), isTyped(FailureType.Unavailable, true));
    await down.close();
  });

  it('validates its config at the edge', () => {
    assert.throws(() => createMilvusSink({ address: '' }));
    assert.throws(() => createMilvusSink({ token: '' }));
    assert.throws(() => createMilvusSink({ batchSize: 0 }));
  });
});
