import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Errors, Pinecone } from '@pinecone-database/pinecone';
import { eventually } from '../support/stack.ts';
import { PINECONE_LIMITS, startPineconeServer, type PineconeServer, type PineconeServerOptions } from './pinecone-server.ts';

// The contract server's own rules, hit with plain fetch (and, where the question is what the SDK sends, with the SDK).

const KEY = 'pcsk-contract-test';

interface Reply {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
}

function client(server: PineconeServer, key: string | null = KEY) {
  return async (path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const res = await fetch(server.url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        'content-type': 'application/json',
        'x-pinecone-api-version': '2026-07',
        ...(key === null ? {} : { 'api-key': key }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Plain-text bodies (the 401) stay in `text`.
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
}

const vec = (dims: number, at = 0, x = 1) => Array.from({ length: dims }, (_, i) => (i === at ? x : 0));

/** A 400 in the service's shape: `{ code: 3, message, details: [] }`, its message matching `pattern`. */
function assertRejected(r: Reply, pattern: RegExp): void {
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.code, 3);
  assert.deepEqual(r.body.details, []);
  assert.match(String(r.body.message), pattern);
}

async function withServer(opts: Partial<PineconeServerOptions>, fn: (s: PineconeServer) => Promise<void>): Promise<void> {
  const s = await startPineconeServer({ dimension: 4, apiKey: KEY, ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

describe('Pinecone contract server', () => {
  let server: PineconeServer;
  let api: ReturnType<typeof client>;
  before(async () => {
    server = await startPineconeServer({ dimension: 4, apiKey: KEY });
    api = client(server);
  });
  after(() => server.close());

  it('answers a missing or wrong Api-Key with a plain-text 401', async () => {
    for (const key of [null, 'wrong']) {
      const r = await client(server, key)('/describe_index_stats', {});
      assert.equal(r.status, 401);
      assert.match(r.text, /Invalid API Key/);
    }
    assert.equal((await api('/describe_index_stats', {}, { 'x-pinecone-api-version': 'latest' })).status, 400);
  });

  it('upserts, fetches, lists and counts, in the default and named namespaces', async () => {
    const up = await api('/vectors/upsert', {
      vectors: [
        { id: 'a', values: vec(4, 0), metadata: { genre: 'drama', year: 2020, tags: ['x', 'y'], ok: true } },
        { id: 'b', values: vec(4, 1) },
      ],
      namespace: 'ns1',
    });
    assert.equal(up.status, 200, up.text);
    assert.deepEqual(up.body, { upsertedCount: 2 });
    assert.equal((await api('/vectors/upsert', { vectors: [{ id: 'd', values: vec(4, 2) }] })).status, 200);

    const got = await api('/vectors/fetch?ids=a&ids=missing&namespace=ns1');
    assert.deepEqual(Object.keys(got.body.vectors as object), ['a']);
    assert.deepEqual((got.body.vectors as Record<string, unknown>).a, {
      id: 'a',
      values: [1, 0, 0, 0],
      metadata: { genre: 'drama', year: 2020, tags: ['x', 'y'], ok: true },
    });
    const stats = await api('/describe_index_stats', {});
    assert.deepEqual(stats.body.namespaces, { ns1: { vectorCount: 2 }, __default__: { vectorCount: 1 } });
    assert.equal(stats.body.dimension, 4);
    assert.equal(stats.body.totalVectorCount, 3);
    assert.equal(stats.body.metric, 'cosine');
    assertRejected(await api('/describe_index_stats', { filter: { genre: 'drama' } }), /Serverless/);
  });

  it('rejects more than 1,000 records or more than 2 MB in one upsert', async () => {
    const many = Array.from({ length: PINECONE_LIMITS.maxUpsertRecords + 1 }, (_, i) => ({ id: `r${i}`, values: vec(4) }));
    assertRejected(await api('/vectors/upsert', { vectors: many, namespace: 'big' }), /1001 records exceeds the maximum of 1000/);
    assert.equal((await api('/vectors/upsert', { vectors: many.slice(1), namespace: 'big' })).status, 200);
    // 60 records of 35 KB metadata each: every record is legal, the request is not.
    const fat = Array.from({ length: 60 }, (_, i) => ({ id: `f${i}`, values: vec(4), metadata: { text: 'x'.repeat(35_000) } }));
    assertRejected(
      await api('/vectors/upsert', { vectors: fat, namespace: 'big' }),
      /Request size 3MB exceeds the maximum supported size of 2MB/,
    );
  });

  it('rejects metadata over 40 KB, null values, nested objects and lists of non-strings', async () => {
    const up = (metadata: unknown) =>
      api('/vectors/upsert', { vectors: [{ id: 'm', values: vec(4), metadata }], namespace: 'meta' });
    const text = 'x'.repeat(PINECONE_LIMITS.maxMetadataBytes - '{"text":""}'.length);
    assert.equal((await up({ text })).status, 200, 'exactly 40,960 bytes is allowed');
    assertRejected(
      await up({ text: `${text}y` }),
      /Metadata size is 40961 bytes, which exceeds the limit of 40960 bytes per vector/,
    );
    assertRejected(await up({ a: null }), /'a' is null/);
    assertRejected(await up({ a: { b: 1 } }), /string, number, boolean or list of strings/);
    assertRejected(await up({ a: [1, 2] }), /string, number, boolean or list of strings/);
    assertRejected(await up([1]), /JSON object/);
  });

  it('rejects empty and over-long ids, in upserts, fetches and deletes', async () => {
    const up = (id: unknown) => api('/vectors/upsert', { vectors: [{ id, values: vec(4) }], namespace: 'ids' });
    assert.equal((await up('i'.repeat(512))).status, 200);
    assert.equal((await up('é'.repeat(512))).status, 200, 'the limit counts characters, not bytes');
    assertRejected(await up('i'.repeat(513)), /exceeds the maximum of 512/);
    assertRejected(await up(''), /non-empty string/);
    assertRejected(await up(7), /non-empty string/);
    assertRejected(await api('/vectors/fetch?namespace=ids'), /non-empty list/);
    assertRejected(await api('/vectors/delete', { ids: [''], namespace: 'ids' }), /non-empty string/);
  });

  it('rejects a wrong dimension, NaN and Infinity (which JSON, and so the SDK, sends as null) and all-zero vectors', async () => {
    const up = (values: unknown) => api('/vectors/upsert', { vectors: [{ id: 'v', values }], namespace: 'dims' });
    assertRejected(await up([1, 0, 0]), /^Vector dimension 3 does not match the dimension of the index 4$/);
    assertRejected(await up(JSON.parse(JSON.stringify([1, Number.NaN, 0, 0]))), /values\[1\] is null/);
    assertRejected(await up('[1, 0, 0, "0"]'), /values must be a list|values\[3\]/);
    assertRejected(await up([0, 0, 0, 0]), /at least one non-zero value/);
    assertRejected(
      await api('/query', { vector: [1, 0], topK: 1 }),
      /^Query vector dimension 2 does not match the dimension of the index 4$/,
    );

    // What the SDK does with NaN and Infinity: it sends them (as null) and the server's 400 comes back as a bad request.
    const pc = new Pinecone({ apiKey: KEY, maxRetries: 0 });
    const index = pc.index({ host: server.url });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(index.upsert({ records: [{ id: 'n', values: [1, bad, 0, 0] }], namespace: 'dims' }), (e: unknown) => {
        assert.ok(e instanceof Errors.PineconeBadRequestError, String(e));
        assert.match((e as Error).message, /values\[1\] is null/);
        return true;
      });
    }
    assert.ok(server.stats().apiVersions.includes('2026-07'), 'the SDK pins API version 2026-07');
  });

  it('rejects topK outside 1..10,000 and more than 1,000 ids per fetch or delete', async () => {
    assertRejected(await api('/query', { vector: vec(4), topK: 10_001 }), /topK must be an integer from 1 to 10000/);
    assertRejected(await api('/query', { vector: vec(4), topK: 0 }), /topK/);
    assert.equal((await api('/query', { vector: vec(4), topK: 10_000 })).status, 200);
    assertRejected(await api('/query', { topK: 1 }), /exactly one of vector and id/);
    const ids = Array.from({ length: 1001 }, (_, i) => `id${i}`);
    assertRejected(await api(`/vectors/fetch?${ids.map((i) => `ids=${i}`).join('&')}`), /1001 ids exceed the maximum of 1000/);
    assertRejected(await api('/vectors/delete', { ids, namespace: 'x' }), /1001 ids exceed the maximum of 1000/);
    assert.equal((await api('/vectors/delete', { ids: ids.slice(1), namespace: 'x' })).status, 200);
    assertRejected(await api('/vectors/delete', { namespace: 'x' }), /exactly one of ids, deleteAll and filter/);
    assertRejected(await api('/vectors/upsert', '{"vectors": ['), /parse the request body as JSON/);
  });

  it('filters on metadata with $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists, $and and $or', async () => {
    const rows = [
      { id: 'p1', values: vec(4, 0), metadata: { tenant: 't1', source_uri: 'doc://a', n: 1, tags: ['red'] } },
      { id: 'p2', values: vec(4, 1), metadata: { tenant: 't1', source_uri: 'doc://b', n: 2, tags: ['red', 'blue'] } },
      { id: 'p3', values: vec(4, 2), metadata: { tenant: 't2', source_uri: 'doc://a', n: 3 } },
    ];
    await api('/vectors/upsert', { vectors: rows, namespace: 'f' });
    const ids = async (filter: unknown) => {
      const r = await api('/query', { vector: vec(4, 3, 1), topK: 10, filter, namespace: 'f' });
      assert.equal(r.status, 200, r.text);
      return (r.body.matches as { id: string }[]).map((m) => m.id).sort();
    };
    assert.deepEqual(await ids({ tenant: 't1' }), ['p1', 'p2']);
    assert.deepEqual(await ids({ tenant: { $eq: 't2' } }), ['p3']);
    assert.deepEqual(await ids({ tenant: { $ne: 't1' } }), ['p3']);
    assert.deepEqual(await ids({ source_uri: { $in: ['doc://b', 'doc://z'] } }), ['p2']);
    assert.deepEqual(await ids({ source_uri: { $nin: ['doc://a'] } }), ['p2']);
    assert.deepEqual(await ids({ n: { $gt: 1 } }), ['p2', 'p3']);
    assert.deepEqual(await ids({ n: { $gte: 1, $lt: 3 } }), ['p1', 'p2']);
    assert.deepEqual(await ids({ n: { $lte: 1 } }), ['p1']);
    assert.deepEqual(await ids({ tags: 'blue' }), ['p2'], 'a list field matches when it holds the value');
    assert.deepEqual(await ids({ tags: { $exists: false } }), ['p3']);
    assert.deepEqual(await ids({ $and: [{ tenant: 't1' }, { source_uri: 'doc://a' }] }), ['p1']);
    assert.deepEqual(await ids({ $or: [{ n: 3 }, { source_uri: 'doc://b' }] }), ['p2', 'p3']);
    assertRejected(
      await api('/query', { vector: vec(4), topK: 1, filter: { n: { $regex: 'x' } }, namespace: 'f' }),
      /unsupported operator \$regex/,
    );
    assertRejected(
      await api('/query', { vector: vec(4), topK: 1, filter: { n: { $gt: 'a' } }, namespace: 'f' }),
      /takes a number/,
    );
    assertRejected(await api('/query', { vector: vec(4), topK: 1, filter: { $or: [] }, namespace: 'f' }), /non-empty list/);

    const q = await api('/query', { id: 'p2', topK: 1, includeMetadata: true, includeValues: true, namespace: 'f' });
    assert.deepEqual(q.body.matches, [{ id: 'p2', score: 1, values: [0, 1, 0, 0], metadata: rows[1]!.metadata }]);
  });

  it('lists ids by prefix in byte order, at most 100 a page, with pagination tokens', async () => {
    const vectors = Array.from({ length: 250 }, (_, i) => ({ id: `doc1#${String(i).padStart(3, '0')}`, values: vec(4) }));
    vectors.push({ id: 'doc2#000', values: vec(4) }, { id: 'doc1', values: vec(4) });
    await api('/vectors/upsert', { vectors, namespace: 'l' });
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await api(
        `/vectors/list?namespace=l&prefix=${encodeURIComponent('doc1#')}&limit=1000${token ? `&paginationToken=${token}` : ''}`,
      );
      assert.equal(r.status, 200, r.text);
      const page = (r.body.vectors as { id: string }[]).map((v) => v.id);
      assert.ok(page.length <= 100);
      seen.push(...page);
      token = (r.body.pagination as { next?: string } | undefined)?.next;
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      vectors.slice(0, 250).map((v) => v.id),
    );
    const small = await api('/vectors/list?namespace=l&prefix=doc2');
    assert.deepEqual(small.body.vectors, [{ id: 'doc2#000' }]);
    assert.equal(small.body.pagination, undefined);
    assertRejected(await api('/vectors/list?namespace=l&paginationToken=bm9wZQ=='), /invalid pagination token/);
  });

  it('deletes by ids, by filter and all of a namespace, and updates by id and by filter', async () => {
    const rows = ['a', 'b', 'c', 'd'].map((id, i) => ({ id, values: vec(4, i), metadata: { k: i % 2 === 0 ? 'even' : 'odd' } }));
    await api('/vectors/upsert', { vectors: rows, namespace: 'd' });
    await api('/vectors/delete', { ids: ['a', 'zzz'], namespace: 'd' });
    await api('/vectors/delete', { filter: { k: 'odd' }, namespace: 'd' });
    assert.deepEqual((await api('/vectors/list?namespace=d')).body.vectors, [{ id: 'c' }]);

    assert.equal(
      (await api('/vectors/update', { id: 'c', values: vec(4, 3), setMetadata: { extra: true }, namespace: 'd' })).status,
      200,
    );
    const c = (await api('/vectors/fetch?ids=c&namespace=d')).body.vectors as Record<string, unknown>;
    assert.deepEqual(c.c, { id: 'c', values: [0, 0, 0, 1], metadata: { k: 'even', extra: true } });
    const dry = await api('/vectors/update', { filter: { k: 'even' }, setMetadata: { k: 'x' }, dryRun: true, namespace: 'd' });
    assert.deepEqual(dry.body, { matchedRecords: 1 });
    await api('/vectors/update', { filter: { k: 'even' }, setMetadata: { k: 'x' }, namespace: 'd' });
    assert.deepEqual(
      ((await api('/vectors/fetch?ids=c&namespace=d')).body.vectors as Record<string, { metadata: unknown }>).c!.metadata,
      {
        k: 'x',
        extra: true,
      },
    );
    assertRejected(
      await api('/vectors/update', { id: 'c', setMetadata: { big: 'y'.repeat(41_000) }, namespace: 'd' }),
      /Metadata size/,
    );

    await api('/vectors/delete', { deleteAll: true, namespace: 'd' });
    const left = (await api('/describe_index_stats', {})).body.namespaces as object;
    assert.equal(Object.hasOwn(left, 'd'), false, 'an emptied namespace is gone');
  });

  it('answers injected faults with the status, Retry-After and body the service uses, then serves again', async () => {
    server.failNext(2, { status: 429, retryAfter: '3' });
    for (let i = 0; i < 2; i++) {
      const r = await api('/describe_index_stats', {});
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '3');
      assert.equal(r.body.code, 8);
    }
    server.failNext(1, { status: 503 });
    const r = await api('/describe_index_stats', {});
    assert.equal(r.status, 503);
    assert.equal(r.body.code, 14);
    assert.equal((await api('/describe_index_stats', {})).status, 200);
  });

  it('describes the index on the control-plane route', async () => {
    const r = await api('/indexes/contract-index');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.schema, { fields: { _values: { type: 'dense_vector', dimension: 4, metric: 'cosine' } } });
    assert.equal((await api('/indexes/other')).status, 404);
    const pc = new Pinecone({ apiKey: KEY, maxRetries: 0, controllerHostUrl: server.url });
    const model = await pc.indexes.describe('contract-index');
    assert.equal(model.dimension, 4);
    assert.equal(model.metric, 'cosine');
  });

  it('refuses a query result over 4 MB', async () => {
    await withServer({ dimension: 2000 }, async (s) => {
      const call = client(s);
      // Values whose float32 form prints long: 50 records fit a 2 MB upsert, 150 of them overflow a 4 MB result.
      const values = Array.from({ length: 2000 }, (_, i) => 1 + (i % 7) / 7);
      for (let b = 0; b < 3; b++) {
        const vectors = Array.from({ length: 50 }, (_, i) => ({ id: `r${b}-${i}`, values }));
        const r = await call('/vectors/upsert', { vectors });
        assert.equal(r.status, 200, r.text);
      }
      assertRejected(await call('/query', { vector: values, topK: 150, includeValues: true }), /4MB/);
      assert.equal((await call('/query', { vector: values, topK: 150 })).status, 200);
    });
  });

  it('scores by cosine similarity, dot product, or squared euclidean distance (ascending)', async () => {
    const expect: Record<string, [string[], number[]]> = {
      cosine: [
        ['x', 'y'],
        [1, 0.6],
      ],
      dotproduct: [
        ['y', 'x'],
        [12, 6],
      ],
      euclidean: [
        ['x', 'y'],
        [1, 80],
      ],
    };
    for (const metric of ['cosine', 'dotproduct', 'euclidean'] as const) {
      await withServer({ dimension: 2, metric }, async (s) => {
        const call = client(s);
        await call('/vectors/upsert', {
          vectors: [
            { id: 'x', values: [3, 0] },
            { id: 'y', values: [6, 8] },
          ],
        });
        const r = await call('/query', { vector: [2, 0], topK: 2 });
        const matches = r.body.matches as { id: string; score: number }[];
        assert.deepEqual(
          matches.map((m) => m.id),
          expect[metric]![0],
          metric,
        );
        matches.forEach((m, i) => assert.ok(Math.abs(m.score - expect[metric]![1][i]!) < 1e-6, `${metric} ${m.id} ${m.score}`));
      });
    }
  });

  it('keeps writes invisible until eventualConsistencyMs has passed', async () => {
    await withServer({ eventualConsistencyMs: 60_000 }, async (s) => {
      const call = client(s);
      assert.equal((await call('/vectors/upsert', { vectors: [{ id: 'late', values: vec(4) }], namespace: 'e' })).status, 200);
      assert.deepEqual((await call('/vectors/list?namespace=e')).body.vectors, []);
      assert.deepEqual((await call('/describe_index_stats', {})).body.namespaces, {});
    });
    await withServer({ eventualConsistencyMs: 200 }, async (s) => {
      const call = client(s);
      await call('/vectors/upsert', { vectors: [{ id: 'soon', values: vec(4) }], namespace: 'e' });
      await eventually(
        async () => ((await call('/vectors/list?namespace=e')).body.vectors as unknown[]).length === 1 || undefined,
      );
      await call('/vectors/delete', { ids: ['soon'], namespace: 'e' });
      await eventually(
        async () => ((await call('/vectors/list?namespace=e')).body.vectors as unknown[]).length === 0 || undefined,
      );
    });
  });
});
