import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import weaviate, { type WeaviateClient } from 'weaviate-client';
import { FailureType } from '../../connectors/shared/errors.ts';
import type { Sink, SinkRecord } from '../../connectors/sinks/sink.ts';
import {
  createWeaviateSink,
  mapWeaviateError,
  weaviateClassName,
  type WeaviateSinkConfig,
} from '../../connectors/sinks/weaviate.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { isTyped, sinkContract, trackIndexes } from './sink.contract.ts';

const server = { host: '127.0.0.1', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc };
let adminClient: Promise<WeaviateClient> | undefined;
const admin = () => (adminClient ??= weaviate.connectToLocal(server));
after(async () => (await adminClient)?.close());

/** A sink that remembers the indexes it was asked to create, so cleanup can drop exactly those. */
function trackedSink(config: WeaviateSinkConfig): { sink: Sink; cleanup(): Promise<void> } {
  return trackIndexes(createWeaviateSink(config), async (made) => {
    const client = await admin();
    for (const name of made) await client.collections.delete(weaviateClassName(name)).catch(() => undefined);
  });
}

function rec(id: string, vector: number[], tenant = 't', sourceUri = 'doc://x', i = 0): SinkRecord {
  return {
    id,
    vector: new Float32Array(vector),
    text: `text ${i}`,
    metadata: { tenant, sourceUri, chunkIndex: i, start: 0, end: 1, contentHash: 'h', pipelineVersion: 'v' },
  };
}

// A small page size so 250 chunks of one document span several pages.
sinkContract('weaviate', async () => trackedSink({ ...server, pageSize: 100 }));

describe('weaviateClassName', () => {
  it('capitalises, maps characters Weaviate does not allow to _, and prefixes names that do not start with a letter', () => {
    assert.equal(weaviateClassName('docs'), 'Docs');
    assert.equal(weaviateClassName('rag-docs.v2'), 'Rag_docs_v2');
    assert.equal(weaviateClassName('Already_Fine9'), 'Already_Fine9');
    assert.equal(weaviateClassName('2024-index'), 'Idx_2024_index');
    assert.equal(weaviateClassName('_x'), 'Idx__x');
    assert.equal(weaviateClassName('ünï'), 'Idx__n_');
    assert.throws(() => weaviateClassName(''), isTyped(FailureType.InvalidInput, false));
  });
});

describe('mapWeaviateError', () => {
  const err = (name: string, message: string, code?: number) => Object.assign(new Error(message), { name, code });
  const cases: [Error, FailureType][] = [
    [err('WeaviateUnexpectedStatusCodeError', 'status code: 503', 503), FailureType.Unavailable],
    [err('WeaviateUnexpectedStatusCodeError', 'status code: 429', 429), FailureType.RateLimited],
    [err('WeaviateUnexpectedStatusCodeError', 'class name X already exists', 422), FailureType.SinkRejected],
    [err('WeaviateUnexpectedStatusCodeError', 'status code: 400', 400), FailureType.SinkRejected],
    [err('WeaviateInsufficientPermissionsError', 'PERMISSION_DENIED: forbidden', 7), FailureType.SinkRejected],
    [err('WeaviateStartUpError', 'Weaviate failed to startup with message: fetch failed'), FailureType.Unavailable],
    [err('WeaviateQueryError', '/weaviate.v1.Weaviate/Search UNAVAILABLE: No connection established'), FailureType.Unavailable],
    [
      err('WeaviateQueryError', '/weaviate.v1.Weaviate/Search UNKNOWN: could not find class X in schema'),
      FailureType.SinkRejected,
    ],
    [err('WeaviateBatchError', '/weaviate.v1.Weaviate/BatchObjects RESOURCE_EXHAUSTED: slow down'), FailureType.RateLimited],
    [err('WeaviateRequestTimeoutError', 'timed out after 30000ms'), FailureType.Unavailable],
    [err('WeaviateInvalidInputError', 'Invalid input provided: bad filter'), FailureType.InvalidInput],
    [err('TypeError', 'fetch failed'), FailureType.Unavailable],
  ];
  for (const [e, type] of cases) {
    it(`maps ${e.name} "${e.message}" to ${type}`, () => {
      const mapped = mapWeaviateError(e, 'op');
      assert.equal(mapped.type, type);
      assert.equal(mapped.cause, e);
    });
  }
});

describe('Weaviate sink specifics', () => {
  const { sink, cleanup } = trackedSink({ ...server, batchSize: 7, pageSize: 50 });
  after(async () => {
    await sink.close();
    await cleanup();
  });
  const base = uniqueName('wvs', '');

  it('creates the mapped class, and refuses an index name that maps onto a class another index owns', async () => {
    const name = `${base}-map.a`;
    await sink.ensureIndex({ name, dims: 3, metric: 'cosine' });
    const cfg = await (await admin()).collections.use(weaviateClassName(name)).config.get();
    assert.equal(cfg.name, weaviateClassName(name));
    assert.deepEqual(JSON.parse(cfg.description ?? ''), { ragline: { index: name, dims: 3 } });
    const tenant = cfg.properties.find((p) => p.name === 'tenant');
    assert.equal(tenant?.tokenization, 'field');
    await assert.rejects(
      sink.ensureIndex({ name: `${base}_map_a`, dims: 3, metric: 'cosine' }),
      isTyped(FailureType.SinkRejected, false),
    );
    await assert.rejects(sink.count(`${base}_map_a`), isTyped(FailureType.SinkRejected, false));
  });

  it('filters metadata exactly: stopwords, case and punctuation survive (field tokenization)', async () => {
    const name = `${base}tok`;
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const rows = [
      rec(randomUUID(), [1, 0], 'a', 'the', 0), // both values are stopwords under word tokenization
      rec(randomUUID(), [1, 0.1], 'A', 'The', 1),
      rec(randomUUID(), [1, 0.2], 'a b', 'doc://x/a b', 2),
      rec(randomUUID(), [1, 0.3], 'a', 'doc://x/a-b', 3),
    ];
    await sink.upsert(name, rows);
    assert.equal(await sink.count(name, { tenant: 'a' }), 2);
    assert.equal(await sink.count(name, { tenant: 'A' }), 1);
    assert.equal(await sink.count(name, { tenant: 'a b' }), 1);
    assert.deepEqual(await sink.idsOfDocument(name, 'a', 'the'), [rows[0]!.id]);
    assert.deepEqual(await sink.idsOfDocument(name, 'a', 'doc://x/a b'), []);
    const hits = await sink.search(name, new Float32Array([1, 0]), { topK: 10, tenant: 'a' });
    assert.deepEqual(hits.map((h) => h.id).sort(), [rows[0]!.id, rows[3]!.id].sort());
    await sink.deleteDocument(name, 'a', 'the');
    assert.equal(await sink.count(name), 3);
    assert.equal(await sink.count(name, { tenant: 'A', sourceUri: 'The' }), 1);
  });

  it('replaces objects by id across batches, so upserting twice leaves one copy', async () => {
    const name = `${base}twice`;
    await sink.ensureIndex({ name, dims: 2, metric: 'l2' });
    const rows = Array.from({ length: 20 }, (_, i) => rec(randomUUID(), [i, 1], 't', 'doc://x', i));
    await sink.upsert(name, rows);
    await sink.upsert(
      name,
      rows.map((r) => ({ ...r, text: `${r.text} v2` })),
    );
    assert.equal(await sink.count(name), 20);
    const [hit] = await sink.search(name, new Float32Array([5, 1]), { topK: 1 });
    assert.equal(hit!.id, rows[5]!.id);
    assert.equal(hit!.text, 'text 5 v2');
    assert.ok(Math.abs(hit!.score) < 1e-6, `l2 score is the negated squared distance, got ${hit!.score}`);
  });

  it('lists the exact ids of a document with random UUIDs across keyset pages, and takes uppercase ids', async () => {
    const name = `${base}pages`;
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const doc = Array.from({ length: 173 }, (_, i) => rec(randomUUID(), [1, i], 't', 'doc://big', i));
    const other = Array.from({ length: 30 }, (_, i) => rec(randomUUID(), [i, 1], 't', 'doc://other', i));
    await sink.upsert(name, [...doc, ...other]);
    const ids = await sink.idsOfDocument(name, 't', 'doc://big');
    assert.equal(ids.length, 173);
    assert.deepEqual(ids.sort(), doc.map((r) => r.id).sort());
    const upper = randomUUID();
    await sink.upsert(name, [rec(upper.toUpperCase(), [0, 1], 't', 'doc://upper')]);
    assert.deepEqual(await sink.idsOfDocument(name, 't', 'doc://upper'), [upper]);
    await sink.deleteIds(name, [upper.toUpperCase()]);
    assert.equal(await sink.count(name, { sourceUri: 'doc://upper' }), 0);
    await assert.rejects(sink.upsert(name, [rec('chunk-1', [1, 1])]), isTyped(FailureType.InvalidInput, false));
  });

  it('scans one tenant among others exactly (short pages while the cursor remains), and finds uppercase ids', async () => {
    const name = `${base}scan`;
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    // 5 chunks of `t` among 120 of a tenant differing only by surrounding spaces, which a `field` filter would match.
    const mine = Array.from({ length: 5 }, (_, i) => rec(randomUUID(), [1, i], 't', `doc://${i}`, i));
    const spaced = Array.from({ length: 120 }, (_, i) => rec(randomUUID(), [i, 1], ' t ', 'doc://s', i));
    await sink.upsert(name, [...mine, ...spaced]);
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await sink.scanChunks(name, { tenant: 't', limit: 3, cursor });
      sizes.push(page.chunks.length);
      for (const c of page.chunks) {
        seen.push(c.id);
        assert.equal(c.sourceUri, mine.find((r) => r.id === c.id)?.metadata.sourceUri, c.id);
      }
      cursor = page.cursor;
    } while (cursor !== undefined && sizes.length < 200);
    assert.equal(cursor, undefined);
    assert.deepEqual(seen.sort(), mine.map((r) => r.id).sort());
    assert.ok(sizes.every((n) => n <= 3));
    const ids = [mine[0]!.id.toUpperCase(), mine[1]!.id, spaced[0]!.id, 'chunk-1'];
    const found = await sink.findIds(
      name,
      't',
      ids.map((id) => ({ id, sourceUri: 'doc://0' })),
    );
    assert.deepEqual(found.sort(), [mine[0]!.id.toUpperCase(), mine[1]!.id].sort(), "the caller's spelling, exact tenant");
    assert.deepEqual(await sink.findIds(name, ' t ', [{ id: spaced[0]!.id, sourceUri: 'doc://s' }]), [spaced[0]!.id]);
  });

  it('retries objects the server refuses once, then fails naming them', async () => {
    const name = `${base}refuse`;
    await sink.ensureIndex({ name, dims: 3, metric: 'cosine' });
    // Written past the sink, a 2-dimensional vector fixes the HNSW index at 2 dimensions, so the server refuses each
    // 3-dimensional object of the next batch on its own while accepting the request.
    await (await admin()).collections.use(weaviateClassName(name)).data.insert({ properties: { tenant: 'x' }, vectors: [1, 0] });
    const ids = [randomUUID(), randomUUID()];
    await assert.rejects(
      sink.upsert(
        name,
        ids.map((id, i) => rec(id, [1, i, 0])),
      ),
      (e: unknown) => {
        isTyped(FailureType.SinkRejected, false)(e);
        for (const id of ids) assert.match((e as Error).message, new RegExp(id));
        return true;
      },
    );
    assert.equal(await sink.count(name), 1);
  });

  it('adds heading_path to a collection made before it existed, keeping the objects already there', async () => {
    const name = `${base}legacy`;
    const className = weaviateClassName(name);
    const keyword = { dataType: 'text' as const, tokenization: 'field' as const, indexSearchable: false };
    // The class ensureIndex made before heading_path, description included.
    await (
      await admin()
    ).collections.create({
      name: className,
      description: JSON.stringify({ ragline: { index: name, dims: 2 } }),
      vectorizers: weaviate.configure.vectors.selfProvided({
        vectorIndexConfig: weaviate.configure.vectorIndex.hnsw({ distanceMetric: 'cosine' }),
      }),
      properties: [
        { name: 'text', dataType: 'text' },
        ...['tenant', 'source_uri', 'content_hash', 'pipeline_version'].map((n) => ({ name: n, ...keyword })),
        ...['chunk_index', 'start', 'end'].map((n) => ({ name: n, dataType: 'int' as const })),
      ],
    });
    const old = createWeaviateSink(server);
    const id = randomUUID();
    try {
      // A sink that reads the old schema searches without asking for the missing property.
      await (
        await admin()
      ).collections
        .use(className)
        .data.insert({ id, properties: { text: 'old', tenant: 't' }, vectors: [0, 1] });
      assert.deepEqual(
        (await old.search(name, new Float32Array([0, 1]), { topK: 1 })).map((h) => [h.id, h.metadata.headingPath]),
        [[id, undefined]],
      );
    } finally {
      await old.close();
    }
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const prop = (await (await admin()).collections.use(className).config.get()).properties.find(
      (p) => p.name === 'heading_path',
    );
    assert.equal(prop?.tokenization, 'field', 'added by ensureIndex with field tokenization, not guessed by auto-schema');
    await sink.ensureIndex({ name, dims: 2, metric: 'cosine' });
    const r = rec(randomUUID(), [1, 0]);
    const withPath = { ...r, metadata: { ...r.metadata, headingPath: ['Guide', 'Install'] } };
    await sink.upsert(name, [withPath]);
    const hits = await sink.search(name, new Float32Array([1, 0]), { topK: 2 });
    assert.deepEqual(hits[0]!.metadata, withPath.metadata);
    assert.equal(hits[1]!.id, id);
    assert.equal('headingPath' in hits[1]!.metadata, false, 'an object written before reads back without a path');
  });

  it('stores the metric as the distance, scores by it, and refuses another metric', async () => {
    const name = `${base}dot`;
    await sink.ensureIndex({ name, dims: 2, metric: 'dot' });
    await sink.upsert(name, [rec(randomUUID(), [2, 0])]);
    const [hit] = await sink.search(name, new Float32Array([1.5, 0]), { topK: 1 });
    assert.ok(Math.abs(hit!.score - 3) < 1e-4, `dot product score 3, got ${hit!.score}`);
    await assert.rejects(sink.ensureIndex({ name, dims: 2, metric: 'cosine' }), isTyped(FailureType.SinkRejected, false));
  });

  it('refuses a class it did not create, and an index that does not exist', async () => {
    const name = `${base}foreign`;
    const client = await admin();
    await client.collections.create({ name: weaviateClassName(name), vectorizers: weaviate.configure.vectors.selfProvided() });
    try {
      await assert.rejects(sink.ensureIndex({ name, dims: 2, metric: 'cosine' }), isTyped(FailureType.SinkRejected, false));
    } finally {
      await client.collections.delete(weaviateClassName(name));
    }
    await assert.rejects(sink.upsert(`${base}missing`, [rec(randomUUID(), [1, 0])]), isTyped(FailureType.SinkRejected, false));
    assert.equal(await client.collections.exists(weaviateClassName(`${base}missing`)), false, 'no class made by auto-schema');
  });

  it('reports a server that is not there as unavailable and retryable', async () => {
    // Port 9 (discard) has no listener on this machine, so the connection is refused.
    const down = createWeaviateSink({ host: '127.0.0.1', port: 9, grpcPort: 9 });
    await assert.rejects(
      down.ensureIndex({ name: `${base}down`, dims: 2, metric: 'l2' }),
      isTyped(FailureType.Unavailable, true),
    );
    await down.close();
  });

  it('validates its config at the edge', () => {
    assert.throws(() => createWeaviateSink({ port: 70_000 }));
    assert.throws(() => createWeaviateSink({ apiKey: '' }));
    assert.throws(() => createWeaviateSink({ batchSize: 0 }));
  });
});

describe('Weaviate word tokenization (why the sink uses field)', () => {
  let client: WeaviateClient;
  const name = weaviateClassName(uniqueName('wvword', '_'));
  before(async () => {
    client = await admin();
    await client.collections.create({
      name,
      vectorizers: weaviate.configure.vectors.selfProvided(),
      properties: [{ name: 'tenant', dataType: 'text' }],
    });
  });
  after(() => client.collections.delete(name));

  it('cannot filter on a stopword and folds case', async () => {
    const col = client.collections.use(name);
    await col.data.insertMany([
      { properties: { tenant: 'a' }, vectors: [1, 0] },
      { properties: { tenant: 'B' }, vectors: [0, 1] },
    ]);
    await assert.rejects(col.query.fetchObjects({ filters: col.filter.byProperty('tenant').equal('a') }), /stopwords/);
    const b = await col.query.fetchObjects({ filters: col.filter.byProperty('tenant').equal('b') });
    assert.equal(b.objects.length, 1, "word tokenization matches 'b' to 'B'");
  });
});
