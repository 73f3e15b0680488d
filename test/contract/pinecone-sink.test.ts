import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pinecone } from '@pinecone-database/pinecone';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { createPineconeSink, TRUNCATION_MARKER, type PineconeSinkConfig } from '../../connectors/sinks/pinecone.ts';
import type { Sink, SinkRecord } from '../../connectors/sinks/sink.ts';
import { uniqueName } from '../support/stack.ts';
import { startPineconeServer, type PineconeServer, type PineconeServerOptions } from './pinecone-server.ts';
import { sinkContract, trackIndexes } from './sink.contract.ts';

const KEY = 'pcsk-sink-test';

/** A sink that remembers the index names it was asked for, so cleanup can empty exactly their namespaces and records. */
function trackedSink(config: PineconeSinkConfig): { sink: Sink; cleanup(): Promise<void> } {
  return trackIndexes(createPineconeSink(config), async (made) => {
    const index = new Pinecone({ apiKey: config.apiKey, maxRetries: 0 }).index({ host: config.indexHost });
    const { namespaces = {} } = await index.describeIndexStats();
    for (const ns of Object.keys(namespaces)) {
      if ([...made].some((name) => ns.startsWith(`${config.namespacePrefix ?? ''}${name}.`)))
        await index.deleteAll({ namespace: ns });
    }
    // The sink's registry records of those indexes (see pinecone.ts); the aliases went first, through the sink.
    const ids = [...made].map((name) => `index:${encodeURIComponent(name).replaceAll('.', '%2E')}`);
    if (ids.length > 0) await index.deleteMany({ ids, namespace: `${config.namespacePrefix ?? ''}.registry` });
  });
}

/** A fresh contract server per suite, closed by the suite's cleanup. */
function onServer(opts: Partial<PineconeServerOptions> = {}) {
  return async () => {
    const server = await startPineconeServer({ dimension: 8, apiKey: KEY, ...opts });
    const { sink } = trackedSink({ apiKey: KEY, indexHost: server.url });
    return { sink, cleanup: () => server.close() };
  };
}

sinkContract('pinecone (contract server)', onServer());
sinkContract(
  'pinecone (contract server, writes visible 300 ms after they are acknowledged)',
  onServer({ eventualConsistencyMs: 300 }),
);

const live = process.env.PINECONE_API_KEY && process.env.PINECONE_INDEX_HOST;
describe(
  'Pinecone live service',
  {
    skip: live
      ? false
      : 'PINECONE_API_KEY not set: live Pinecone run is opt-in (also needs PINECONE_INDEX_HOST, an 8-dim cosine index)',
  },
  () => {
    sinkContract('pinecone (live)', async () =>
      trackedSink({
        apiKey: process.env.PINECONE_API_KEY!,
        indexHost: process.env.PINECONE_INDEX_HOST!,
        namespacePrefix: 'ragline-ct-',
      }),
    );
  },
);

function rec(i: number, opts: { dims?: number; tenant?: string; uri?: string; text?: string } = {}): SinkRecord {
  const dims = opts.dims ?? 8;
  const vector = new Float32Array(dims);
  vector[i % dims] = 1;
  vector[(i * 3 + 1) % dims] = vector[(i * 3 + 1) % dims]! + (1 + (i % 11)) / 11;
  return {
    id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    vector,
    text: opts.text ?? `text ${i}`,
    metadata: {
      tenant: opts.tenant ?? 't',
      sourceUri: opts.uri ?? `doc://${i % 3}`,
      chunkIndex: i,
      start: i * 10,
      end: i * 10 + 9,
      contentHash: 'h',
      pipelineVersion: 'v',
    },
  };
}

async function rejectsWith(p: Promise<unknown>, type: FailureType, retryable: boolean): Promise<ConnectorError> {
  let caught: ConnectorError | undefined;
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ConnectorError, String(e));
    assert.equal(e.type, type, e.message);
    assert.equal(e.retryable, retryable);
    caught = e;
    return true;
  });
  return caught!;
}

describe('Pinecone sink specifics', () => {
  let server: PineconeServer;
  let sink: Sink;
  const base = uniqueName('pcs', '');
  let n = 0;
  const fresh = async () => {
    const name = `${base}i${n++}`;
    await sink.ensureIndex({ name, dims: 8, metric: 'cosine' });
    return name;
  };
  const raw = (path: string, body?: unknown) =>
    fetch(server.url + path, {
      method: body ? 'POST' : 'GET',
      headers: { 'api-key': KEY },
      body: body ? JSON.stringify(body) : undefined,
    }).then((r) => r.json() as Promise<Record<string, unknown>>);

  before(async () => {
    server = await startPineconeServer({ dimension: 8, apiKey: KEY });
    sink = createPineconeSink({ apiKey: KEY, indexHost: server.url });
  });
  after(async () => {
    await sink.close();
    await server.close();
  });

  it('splits 2,500 records into requests of at most 1,000 records and 2 MB', async () => {
    const name = await fresh();
    const before = server.stats().upserts.length;
    await sink.upsert(
      name,
      Array.from({ length: 2500 }, (_, i) => rec(i)),
    );
    const sent = server.stats().upserts.slice(before);
    assert.ok(sent.length >= 3, `${sent.length} requests`);
    assert.ok(
      sent.every((u) => u.records <= 1000 && u.bytes <= 2_000_000),
      JSON.stringify(sent),
    );
    assert.equal(
      sent.reduce((s, u) => s + u.records, 0),
      2500,
    );
    assert.equal(await sink.count(name), 2500);
    assert.equal(await sink.count(name, { sourceUri: 'doc://1' }), 833);
  });

  it('splits by bytes when records are large, and truncates a text over the metadata limit with a marker', async () => {
    const name = await fresh();
    const before = server.stats().upserts.length;
    const big = Array.from({ length: 120 }, (_, i) => rec(i, { text: `${i} ${'word '.repeat(6000)}` }));
    await sink.upsert(name, big);
    const sent = server.stats().upserts.slice(before);
    assert.ok(sent.length >= 2 && sent.every((u) => u.bytes <= 2_000_000), JSON.stringify(sent));
    assert.equal(await sink.count(name), 120);

    // 100,000 characters, with emoji (two UTF-16 units each) so a careless cut would split a surrogate pair.
    const huge = rec(500, { uri: 'doc://huge', text: '😀x'.repeat(33_334) });
    await sink.upsert(name, [huge]);
    const [hit] = await sink.search(name, huge.vector, { topK: 1 });
    assert.equal(hit!.id, huge.id);
    assert.ok(hit!.text.endsWith(TRUNCATION_MARKER));
    assert.ok(huge.text.startsWith(hit!.text.slice(0, -TRUNCATION_MARKER.length)));
    assert.ok(!/[\ud800-\udbff]$/.test(hit!.text.slice(0, -TRUNCATION_MARKER.length)), 'no half surrogate pair at the cut');
    assert.deepEqual(hit!.metadata, huge.metadata);
    const [ns] = Object.keys((await raw('/describe_index_stats', {})).namespaces as object).filter((k) =>
      k.startsWith(`${name}.`),
    );
    const [id] = ((await raw(`/vectors/list?namespace=${encodeURIComponent(ns!)}&prefix=`)).vectors as { id: string }[])
      .map((v) => v.id)
      .filter((v) => v.endsWith(huge.id));
    const stored = (
      (await raw(`/vectors/fetch?ids=${encodeURIComponent(id!)}&namespace=${encodeURIComponent(ns!)}`)).vectors as Record<
        string,
        { metadata: Record<string, unknown> }
      >
    )[id!]!.metadata;
    assert.equal(stored.text_length, huge.text.length);
    assert.ok(Buffer.byteLength(JSON.stringify(stored)) <= 40_960);
  });

  it('stores record ids as `docKey#chunkId` and hands back the plain chunk ids', async () => {
    const name = await fresh();
    await sink.upsert(name, [rec(1, { uri: 'doc://p' }), rec(2, { uri: 'doc://p' })]);
    const listed = ((await raw(`/vectors/list?namespace=${encodeURIComponent(`${name}.t`)}`)).vectors as { id: string }[]).map(
      (v) => v.id,
    );
    assert.equal(listed.length, 2);
    assert.ok(
      listed.every((id) => /^[0-9a-f]{32}#00000000-0000-4000-8000-/.test(id)),
      listed.join(),
    );
    assert.deepEqual((await sink.idsOfDocument(name, 't', 'doc://p')).sort(), [rec(1).id, rec(2).id]);
  });

  it('deletes ids it has not seen in this process, by a chunk_id filter in each namespace of the index', async () => {
    const name = await fresh();
    await sink.upsert(name, [rec(1, { tenant: 'a' }), rec(2, { tenant: 'b' }), rec(3, { tenant: 'b' })]);
    const other = createPineconeSink({ apiKey: KEY, indexHost: server.url });
    await other.deleteIds(name, [rec(1).id, rec(2).id, rec(99).id]);
    assert.equal(await sink.count(name), 1);
    assert.deepEqual(await sink.idsOfDocument(name, 'b', rec(3).metadata.sourceUri), [rec(3).id]);
  });

  it("scans a namespace in list pages, learning each document's uri with one fetch, and finds ids 100 a fetch", async () => {
    const name = await fresh();
    const recs = Array.from({ length: 250 }, (_, i) => rec(i, { tenant: 's', uri: `doc://scan/${i % 3}` }));
    await sink.upsert(name, [...recs, rec(900, { tenant: 'other' })]);
    // A sink of another process: it knows no uri yet.
    const other = createPineconeSink({ apiKey: KEY, indexHost: server.url });
    const requests = () => server.stats().requests;
    const before = requests();
    const page = await other.scanChunks(name, { tenant: 's', limit: 1000 });
    assert.equal(page.cursor, undefined);
    assert.deepEqual(
      page.chunks.sort((a, b) => a.id.localeCompare(b.id)),
      recs.map((r) => ({ id: r.id, sourceUri: r.metadata.sourceUri })).sort((a, b) => a.id.localeCompare(b.id)),
    );
    const after = requests();
    assert.equal(after['GET /vectors/list']! - (before['GET /vectors/list'] ?? 0), 3, 'list pages of 100');
    assert.equal(after['GET /vectors/fetch']! - (before['GET /vectors/fetch'] ?? 0), 1, 'one fetch for the 3 documents');
    const small = await other.scanChunks(name, { tenant: 's', limit: 120 });
    assert.equal(small.chunks.length, 120);
    assert.ok(small.cursor);
    assert.equal(requests()['GET /vectors/fetch'], after['GET /vectors/fetch'], 'the uris are remembered');
    // findIds: the full record ids, 100 to a fetch (the ids travel in the URL).
    const ask = Array.from({ length: 2500 }, (_, i) => ({ id: rec(i).id, sourceUri: `doc://scan/${i % 3}` }));
    const fetches = requests()['GET /vectors/fetch']!;
    const found = await other.findIds(name, 's', ask);
    assert.deepEqual(found.sort(), recs.map((r) => r.id).sort());
    assert.equal(requests()['GET /vectors/fetch']! - fetches, 25);
  });

  it('learns the uri of a document from its other records when the one it fetched went during the scan', async () => {
    const name = await fresh();
    const recs = Array.from({ length: 6 }, (_, i) => rec(i, { tenant: 's', uri: 'doc://going' }));
    await sink.upsert(name, recs);
    const fresher = createPineconeSink({ apiKey: KEY, indexHost: server.url });
    const ns = `${name}.s`;
    const listed = ((await raw(`/vectors/list?namespace=${encodeURIComponent(ns)}`)).vectors as { id: string }[]).map(
      (v) => v.id,
    );
    const realFetch = globalThis.fetch;
    let once = true;
    // The first listed record is deleted right after the list page is served, before the sink fetches it.
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const res = await realFetch(input, init);
      if (once && String(input instanceof Request ? input.url : input).includes('/vectors/list')) {
        once = false;
        await raw('/vectors/delete', { ids: [listed[0]], namespace: ns });
      }
      return res;
    };
    try {
      const page = await fresher.scanChunks(name, { tenant: 's', limit: 10 });
      assert.equal(once, false);
      assert.deepEqual(
        page.chunks.filter((c) => c.id !== listed[0]!.split('#')[1]),
        listed.slice(1).map((id) => ({ id: id.split('#')[1], sourceUri: 'doc://going' })),
      );
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  it('keeps index names and tenants with dots apart', async () => {
    await sink.ensureIndex({ name: `${base}x`, dims: 8, metric: 'cosine' });
    await sink.ensureIndex({ name: `${base}x.y`, dims: 8, metric: 'cosine' });
    await sink.upsert(`${base}x`, [rec(1, { tenant: 'y.z' })]);
    await sink.upsert(`${base}x.y`, [rec(2, { tenant: 'z' }), rec(3, { tenant: 'z' })]);
    assert.equal(await sink.count(`${base}x`), 1);
    assert.equal(await sink.count(`${base}x.y`, { tenant: 'z' }), 2);
    assert.equal(await sink.count(`${base}x`, { tenant: 'y.z' }), 1);
  });

  it('maps a 429 to RateLimited with the Retry-After wait, without retrying inside the SDK, and the next call succeeds', async () => {
    const name = await fresh();
    const attempts = () => server.stats().requests['POST /vectors/upsert'] ?? 0;
    const before = attempts();
    server.failNext(1, { status: 429, retryAfter: '2' });
    const err = await rejectsWith(sink.upsert(name, [rec(1)]), FailureType.RateLimited, true);
    assert.equal(err.retryAfterMs, 2000);
    assert.match(err.message, /HTTP 429/);
    assert.equal(attempts(), before + 1, 'one attempt: retries belong to Temporal');
    await sink.upsert(name, [rec(1)]);
    assert.equal(await sink.count(name), 1);
  });

  it('maps 5xx to Unavailable, a bad key to InvalidInput, and a refused connection to Unavailable', async () => {
    const name = await fresh();
    const before = server.stats().requests['POST /query'] ?? 0;
    server.failNext(1, { status: 503 });
    await rejectsWith(sink.search(name, rec(1).vector, { topK: 1, tenant: 't' }), FailureType.Unavailable, true);
    assert.equal(server.stats().requests['POST /query'], before + 1, 'the SDK did not retry the 503');
    server.failNext(1, { status: 500 });
    await rejectsWith(sink.count(name), FailureType.Unavailable, true);
    const badKey = createPineconeSink({ apiKey: 'wrong', indexHost: server.url });
    await rejectsWith(badKey.count(name), FailureType.InvalidInput, false);
    // Port 9 (discard) has no listener on this machine, so the connection is refused.
    const down = createPineconeSink({ apiKey: KEY, indexHost: 'http://127.0.0.1:9' });
    await rejectsWith(down.ensureIndex({ name, dims: 8, metric: 'cosine' }), FailureType.Unavailable, true);
  });

  it('rejects an IndexSpec whose metric is not the index metric', async () => {
    await rejectsWith(sink.ensureIndex({ name: `${base}dot`, dims: 8, metric: 'dot' }), FailureType.SinkRejected, false);
  });

  it('confirms the metric through the control plane when the index name is configured', async () => {
    const ok = createPineconeSink({
      apiKey: KEY,
      indexHost: server.url,
      indexName: 'contract-index',
      controllerHostUrl: server.url,
    });
    await ok.ensureIndex({ name: `${base}cp`, dims: 8, metric: 'cosine' });
    // Configured as dotproduct, which the data plane cannot check: the control plane says cosine.
    const wrong = createPineconeSink({
      apiKey: KEY,
      indexHost: server.url,
      indexName: 'contract-index',
      controllerHostUrl: server.url,
      metric: 'dotproduct',
    });
    await rejectsWith(wrong.ensureIndex({ name: `${base}cp`, dims: 8, metric: 'dot' }), FailureType.SinkRejected, false);
    const missing = createPineconeSink({ apiKey: KEY, indexHost: server.url, indexName: 'nope', controllerHostUrl: server.url });
    await rejectsWith(missing.ensureIndex({ name: `${base}cp`, dims: 8, metric: 'cosine' }), FailureType.SinkRejected, false);
  });

  it('scores a euclidean index so that nearer is higher', async () => {
    const l2 = await startPineconeServer({ dimension: 2, apiKey: KEY, metric: 'euclidean' });
    try {
      const s = createPineconeSink({ apiKey: KEY, indexHost: l2.url, metric: 'euclidean' });
      const name = `${base}l2`;
      await s.ensureIndex({ name, dims: 2, metric: 'l2' });
      const r = (i: number, v: [number, number]) => ({ ...rec(i, { dims: 2 }), vector: new Float32Array(v) });
      await s.upsert(name, [r(1, [3, 0]), r(2, [6, 8])]);
      const hits = await s.search(name, new Float32Array([2, 0]), { topK: 2 });
      assert.deepEqual(
        hits.map((h) => [h.id, h.score]),
        [
          [rec(1).id, -1],
          [rec(2).id, -80],
        ],
      );
    } finally {
      await l2.close();
    }
  });

  it('validates its config at the edge', () => {
    assert.throws(() => createPineconeSink({ apiKey: '', indexHost: server.url }));
    assert.throws(() => createPineconeSink({ apiKey: KEY, indexHost: server.url, maxBatchRecords: 1001 }));
    assert.throws(() => createPineconeSink({ apiKey: KEY, indexHost: server.url, maxRequestBytes: 3_000_000 }));
  });
});
