// Hybrid search on the Pinecone sink (config `sparse: { kind: bm25 }`) against the contract server, which enforces
// Pinecone's sparse-dense rules (dotproduct index only, uint32 indices each once, at most 1,000 values) and scores a
// query by the dot product of the whole sparse-dense vector. The BM25 half is checked against the in-memory Bm25Index
// computed over the same texts, and each fusion against the fusion computed from the two halves' own rankings.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pinecone } from '@pinecone-database/pinecone';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { createPineconeSink, type PineconeSinkConfig } from '../../connectors/sinks/pinecone.ts';
import type { HybridQuery, Sink, SinkRecord } from '../../connectors/sinks/sink.ts';
import { analyze, Bm25Index, fusedScores, MAX_SPARSE_VALUES } from '../../connectors/sparse/bm25.ts';
import { createSqliteTermStats, type TermStats } from '../../connectors/sparse/term-stats.ts';
import { cosine } from './embedder.contract.ts';
import { startPineconeServer, type PineconeServer } from './pinecone-server.ts';
import { isTyped, sinkContract, trackIndexes } from './sink.contract.ts';

const KEY = 'pcsk-hybrid-test';
const DIMS = 4;
const dir = mkdtempSync(join(tmpdir(), 'ragline-pinecone-hybrid-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const statsFile = () => join(dir, `stats-${files++}.sqlite`);

function rec(id: string, text: string, vector: number[], tenant = 't'): SinkRecord {
  return {
    id,
    vector: new Float32Array(vector),
    text,
    metadata: {
      tenant,
      sourceUri: `doc://${tenant}/${id}`,
      chunkIndex: 0,
      start: 0,
      end: text.length,
      contentHash: 'h',
      pipelineVersion: '1',
    },
  };
}

// The query vector points at the first chunks; the chunk naming the fault code points away from it.
const queryVector = new Float32Array([1, 0.05, 0, 0]);
const chunks = [
  rec('retry', 'Workers retry failed activities with exponential backoff; retries back off.', [1, 0.1, 0, 0]),
  rec('cache', 'The embedding cache keeps vectors by model and chunk text.', [1, 0.2, 0.05, 0]),
  rec('alias', 'Blue/green index versions let readers switch in one alias move, and the pump stays primed.', [0.9, 0.3, 0.1, 0]),
  rec('sched', 'Schedules start periodic reindex runs; reconciliation repairs lost chunks of the pump.', [0.8, 0.4, 0.2, 0.1]),
  rec('tenant', 'Each tenant sees only its own chunks.', [0.6, 0.6, 0.3, 0]),
  rec(
    'code',
    'A pump that reports fault QX-7731 has lost prime; close the outlet valve and bleed the pump line.',
    [0, 0, 1, 0.2],
  ),
];
const QUERY = 'pump fault QX-7731 lost prime';
const q = (alpha: number, fusion: HybridQuery['fusion'], text = QUERY): HybridQuery => ({
  text,
  vector: queryVector,
  alpha,
  fusion,
});
const ids = (hits: { id: string }[]) => hits.map((h) => h.id);

/** BM25 of each chunk for the query, as the in-memory index computes it over the same texts. */
function bm25Scores(texts: SinkRecord[], query: string): Map<string, number> {
  const index = new Bm25Index();
  for (const r of texts) index.add(r.text);
  const out = new Map<string, number>();
  for (const [i, s] of index.score(query)) out.set(texts[i]!.id, s);
  return out;
}

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe('pinecone hybrid (BM25 sparse-dense records, contract server)', () => {
  let server: PineconeServer;
  let sink: Sink;
  let stats: TermStats;
  let n = 0;
  const config = (): PineconeSinkConfig => ({
    apiKey: KEY,
    indexHost: server.url,
    metric: 'dotproduct',
    sparse: { kind: 'bm25' },
  });
  const fresh = async (records = chunks) => {
    const name = `hyb-${n++}`;
    await sink.ensureIndex({ name, dims: DIMS, metric: 'cosine' });
    await sink.upsert(name, records);
    return name;
  };
  const admin = () => new Pinecone({ apiKey: KEY, maxRetries: 0 }).index({ host: server.url });

  before(async () => {
    server = await startPineconeServer({ dimension: DIMS, apiKey: KEY, metric: 'dotproduct' });
    stats = createSqliteTermStats({ path: statsFile() });
    sink = createPineconeSink(config(), { termStats: stats });
  });
  after(async () => {
    await sink.close();
    await server.close();
  });

  it('alpha 0 ranks by BM25 exactly: the sparse dot product equals Bm25Index over the same chunks', async () => {
    const name = await fresh();
    const want = bm25Scores(chunks, QUERY);
    for (const fusion of ['convex', 'relative-score', 'rrf'] as const) {
      const hits = await sink.hybridSearch!(name, q(0, fusion), { topK: 10, tenant: 't' });
      const order = [...want].sort((a, b) => b[1] - a[1]).map(([id]) => id);
      assert.deepEqual(ids(hits), order, `${fusion}: only chunks sharing a term, in BM25 order`);
      if (fusion === 'convex') for (const h of hits) close(h.score, want.get(h.id)!, `BM25 of ${h.id}`);
    }
    assert.equal(ids(await sink.hybridSearch!(name, q(0, 'convex'), { topK: 1, tenant: 't' }))[0], 'code');
  });

  it('alpha 1 is exactly the vector search; the cosine pipeline is stored at unit length in the dotproduct index', async () => {
    const name = await fresh();
    const plain = await sink.search(name, queryVector, { topK: 10, tenant: 't' });
    assert.deepEqual(
      plain.map((h) => [h.id, Math.round(h.score * 1e5)]),
      chunks
        .map((c) => [c.id, Math.round(cosine(c.vector, queryVector) * 1e5)] as const)
        .sort((a, b) => b[1] - a[1])
        .map(([id, s]) => [id, s]),
      'dot products of unit vectors are the cosines',
    );
    const convex = await sink.hybridSearch!(name, q(1, 'convex'), { topK: 10, tenant: 't' });
    assert.deepEqual(ids(convex), ids(plain));
    for (const [i, h] of convex.entries()) close(h.score, plain[i]!.score, h.id);
    assert.deepEqual(ids(await sink.hybridSearch!(name, q(1, 'rrf'), { topK: 10, tenant: 't' })), ids(plain));
    // The stored record: unit dense values and the sparse values beside them.
    const ns = `${name}.t`;
    const got = (await admin().fetch({ ids: [`${await keyOf('t', 'code')}#code`], namespace: ns })).records;
    const r = Object.values(got)[0]!;
    close(Math.hypot(...(r.values ?? [])), 1, 'norm');
    assert.equal(r.sparseValues!.indices.length, new Set(analyze(chunks[5]!.text)).size);
  });

  it('convex fusion is alpha·cosine + (1 − alpha)·BM25, in one query', async () => {
    const name = await fresh();
    const bm = bm25Scores(chunks, QUERY);
    const before = server.stats().requests['POST /query'] ?? 0;
    const hits = await sink.hybridSearch!(name, q(0.3, 'convex'), { topK: 10, tenant: 't' });
    assert.equal((server.stats().requests['POST /query'] ?? 0) - before, 1, 'one query');
    const want = chunks
      .map((c) => [c.id, 0.3 * cosine(c.vector, queryVector) + 0.7 * (bm.get(c.id) ?? 0)] as const)
      .sort((a, b) => b[1] - a[1]);
    assert.deepEqual(
      ids(hits),
      want.map(([id]) => id),
    );
    for (const [i, h] of hits.entries()) close(h.score, want[i]![1], h.id);
  });

  it('rrf and relative-score fuse the two halves on our side, weighted by alpha', async () => {
    const name = await fresh();
    const dense = (await sink.search(name, queryVector, { topK: 10, tenant: 't' })).map((h) => [h.id, h.score] as const);
    const bm = [...bm25Scores(chunks, QUERY)].sort((a, b) => b[1] - a[1]);
    for (const alpha of [0.5, 0.25]) {
      const rrf = await sink.hybridSearch!(name, q(alpha, 'rrf'), { topK: 10, tenant: 't' });
      const want = fusedScores([dense.map(([id]) => id), bm.map(([id]) => id)], 60, [alpha, 1 - alpha]);
      assert.deepEqual(
        ids(rrf),
        want.map(([id]) => id),
        `rrf alpha ${alpha}`,
      );
      for (const [i, h] of rrf.entries()) close(h.score, want[i]![1], h.id);

      const rel = await sink.hybridSearch!(name, q(alpha, 'relative-score'), { topK: 10, tenant: 't' });
      const scaled = (list: (readonly [string, number])[], w: number) => {
        const hi = Math.max(...list.map(([, s]) => s));
        const lo = Math.min(...list.map(([, s]) => s));
        return new Map(list.map(([id, s]) => [id, (w * (s - lo)) / (hi - lo)]));
      };
      const d = scaled(dense, alpha);
      const k = scaled(bm, 1 - alpha);
      const relWant = chunks.map((c) => [c.id, (d.get(c.id) ?? 0) + (k.get(c.id) ?? 0)] as const).sort((a, b) => b[1] - a[1]);
      assert.deepEqual(
        rel.map((h) => Math.round(h.score * 1e5)),
        relWant.map(([, s]) => Math.round(s * 1e5)),
        `relative-score alpha ${alpha}`,
      );
    }
    // The fault code's chunk is last by vector and first by keyword: fusion lifts it into the top 3.
    assert.ok(ids(await sink.hybridSearch!(name, q(0.5, 'rrf'), { topK: 3, tenant: 't' })).includes('code'));
    assert.ok(!ids(await sink.search(name, queryVector, { topK: 3, tenant: 't' })).includes('code'));
  });

  it("keeps tenants apart: another tenant's chunks change neither the hits nor the IDF", async () => {
    const name = await fresh();
    const alone = await sink.hybridSearch!(name, q(0, 'convex'), { topK: 10, tenant: 't' });
    await sink.upsert(name, [
      rec('u1', 'Fault QX-7731 in the pump of the other tenant; prime lost.', [1, 0.05, 0, 0], 'u'),
      rec('u2', 'Another pump, another fault.', [1, 0, 0, 0], 'u'),
    ]);
    const again = await sink.hybridSearch!(name, q(0, 'convex'), { topK: 10, tenant: 't' });
    assert.deepEqual(again, alone);
    assert.equal((await stats.collection(name, 'u')).chunks, 2);
    const both = await sink.hybridSearch!(name, q(0.5, 'rrf'), { topK: 20 });
    assert.deepEqual(new Set(ids(both)), new Set([...chunks.map((c) => c.id), 'u1', 'u2']), 'no tenant: every namespace');
  });

  it('keeps the statistics equal to what the index holds: rewrites, deletes and drops', async () => {
    const name = await fresh();
    assert.deepEqual(await stats.collection(name, 't'), {
      chunks: chunks.length,
      avgLength: chunks.reduce((s, c) => s + analyze(c.text).length, 0) / chunks.length,
    });
    const df = async () => (await stats.documentFrequencies(name, 't', ['pump'])).get('pump') ?? 0;
    assert.equal(await df(), 3);
    await sink.upsert(name, chunks); // a retried activity
    assert.equal((await stats.collection(name, 't')).chunks, chunks.length);
    assert.equal(await df(), 3);
    await sink.upsert(name, [
      rec('alias', 'Blue/green index versions let readers switch in one alias move.', [0.9, 0.3, 0.1, 0]),
    ]);
    assert.equal(await df(), 2, 'a chunk written again with new text counts its new terms');
    await sink.deleteDocument(name, 't', 'doc://t/code');
    assert.equal(await df(), 1);
    await sink.deleteIds(name, ['sched']);
    assert.equal(await df(), 0);
    assert.equal((await stats.collection(name, 't')).chunks, chunks.length - 2);
    assert.deepEqual(await sink.hybridSearch!(name, q(0, 'convex', 'pump'), { topK: 10, tenant: 't' }), []);
    await sink.dropIndex(name);
    assert.deepEqual(await stats.collection(name, 't'), { chunks: 0, avgLength: 0 });
  });

  it('caps a sparse vector at 1,000 values, the largest kept; a query with no known term falls back to its vector half', async () => {
    const words = Array.from({ length: 1500 }, (_, i) => `w${i.toString(36)}x`);
    const big = rec('big', `${words.join(' ')} ${words.slice(0, 10).join(' ')}`, [0, 1, 0, 0]);
    const name = await fresh([...chunks, big]);
    const r = Object.values(
      (await admin().fetch({ ids: [`${await keyOf('t', 'big')}#big`], namespace: `${name}.t` })).records,
    )[0]!;
    assert.equal(r.sparseValues!.indices.length, MAX_SPARSE_VALUES);
    assert.ok(
      ids(await sink.hybridSearch!(name, q(0, 'convex', words[3]!), { topK: 5, tenant: 't' })).includes('big'),
      'a repeated term is kept',
    );
    assert.deepEqual(await sink.hybridSearch!(name, q(0, 'rrf', 'zzzunknown'), { topK: 5, tenant: 't' }), []);
    const dense = await sink.search(name, queryVector, { topK: 5, tenant: 't' });
    assert.deepEqual(ids(await sink.hybridSearch!(name, q(0.5, 'rrf', 'zzzunknown'), { topK: 5, tenant: 't' })), ids(dense));
  });

  it('refuses clearly: no sparse config, a non-dotproduct index, an index written before sparse, bad queries', async () => {
    assert.equal(createPineconeSink({ apiKey: KEY, indexHost: server.url }).hybridSearch, undefined);
    assert.throws(
      () => createPineconeSink({ apiKey: KEY, indexHost: server.url, sparse: { kind: 'bm25' } }, { termStats: stats }),
      (e: unknown) => isTyped(FailureType.InvalidInput, false)(e) && /dotproduct/.test((e as Error).message),
    );
    // Records written by a sink without sparse values, then searched by one with them.
    const plain = createPineconeSink({ apiKey: KEY, indexHost: server.url, metric: 'dotproduct' });
    const name = `hyb-old-${n++}`;
    await plain.ensureIndex({ name, dims: DIMS, metric: 'dot' });
    await plain.upsert(name, chunks);
    await assert.rejects(sink.hybridSearch!(name, q(0.5, 'rrf'), { topK: 5, tenant: 't' }), (e: unknown) => {
      assert.ok(e instanceof ConnectorError && e.type === FailureType.InvalidInput);
      assert.match(e.message, /no sparse values.*reindex/);
      return true;
    });
    const ok = await fresh();
    for (const bad of [q(0.5, 'rrf', '  '), q(1.5, 'rrf'), { ...q(0.5, 'rrf'), fusion: 'max' as never }]) {
      await assert.rejects(sink.hybridSearch!(ok, bad, { topK: 5, tenant: 't' }), isTyped(FailureType.InvalidInput, false));
    }
  });

  it('the contract server refuses what Pinecone refuses: sparse values on a cosine index, repeats, over 1,000 values', async () => {
    const cosineServer = await startPineconeServer({ dimension: 2, apiKey: KEY });
    try {
      const post = (url: string, body: unknown) =>
        fetch(`${url}/vectors/upsert`, { method: 'POST', headers: { 'api-key': KEY }, body: JSON.stringify(body) });
      const rec1 = (sparseValues: unknown) => ({ vectors: [{ id: 'a', values: [1, 0], sparseValues }] });
      const res = await post(cosineServer.url, rec1({ indices: [1], values: [1] }));
      assert.equal(res.status, 400);
      assert.match(await res.text(), /dotproduct/);
      const dot = await startPineconeServer({ dimension: 2, apiKey: KEY, metric: 'dotproduct' });
      try {
        for (const [bad, why] of [
          [{ indices: [1, 1], values: [1, 2] }, /more than once/],
          [{ indices: [1, 2], values: [1] }, /differ in length/],
          [{ indices: [2 ** 32], values: [1] }, /unsigned 32-bit/],
          [{ indices: Array.from({ length: 1001 }, (_, i) => i), values: new Array(1001).fill(1) }, /maximum of 1000/],
        ] as const) {
          const r = await post(dot.url, rec1(bad));
          assert.equal(r.status, 400);
          assert.match(await r.text(), why);
        }
        assert.equal((await post(dot.url, rec1({ indices: [7, 3], values: [0.5, 2] }))).status, 200);
      } finally {
        await dot.close();
      }
    } finally {
      await cosineServer.close();
    }
  });
});

/** The record id prefix the sink gives a document (sha256 of its source uri, 32 hex digits). */
async function keyOf(tenant: string, id: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(`doc://${tenant}/${id}`).digest('hex').slice(0, 32);
}

// Every sink behaviour holds with sparse values on: a cosine pipeline in a dotproduct index, statistics beside it.
sinkContract('pinecone (contract server, hybrid: dotproduct index with BM25 sparse values)', async () => {
  const server = await startPineconeServer({ dimension: 8, apiKey: KEY, metric: 'dotproduct' });
  const termStats = createSqliteTermStats({ path: statsFile() });
  const { sink, cleanup } = trackIndexes(
    createPineconeSink({ apiKey: KEY, indexHost: server.url, metric: 'dotproduct', sparse: { kind: 'bm25' } }, { termStats }),
    async () => {},
  );
  return {
    sink,
    cleanup: async () => {
      await cleanup();
      await server.close();
    },
  };
});
