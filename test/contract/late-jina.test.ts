import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createJinaLateChunkEmbedder, planRequests } from '../../connectors/embedders/late/jina.ts';
import { createLateChunkEmbedder } from '../../connectors/embedders/late/late-chunking.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { type FakeJina, startFakeJina } from './fakes/late-jina.ts';

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const KEY = 'jina_test_key';

const PARA = [
  'The Vellmar lighthouse stands on a basalt spur at the mouth of the Oder estuary.',
  'It was automated in 1987, and its lamp now runs on a solar array installed in 2015.',
  'Keepers once logged every passing ship; those ledgers now sit in the harbour museum.',
  'Its foghorn, silent since 1999, sounds once a year on the anniversary of a 1953 wreck.',
];
const TEXT = PARA.join(' ');
const chunks = () => {
  let at = 0;
  return PARA.map((p) => {
    const start = TEXT.indexOf(p, at);
    at = start + p.length;
    return { start, end: at };
  });
};

describe('planRequests (macro windows at chunk granularity)', () => {
  it('packs own chunks under the budget and prepends preceding chunks as context', () => {
    assert.deepEqual(planRequests([10, 10, 10, 10, 10], 30, 10), [
      { context: [], own: [0, 1, 2] },
      { context: [2], own: [3, 4] },
    ]);
    // Context never pushes a request over the budget; an oversized chunk travels alone.
    assert.deepEqual(planRequests([25, 25, 50], 50, 100), [
      { context: [], own: [0, 1] },
      { context: [], own: [2] },
    ]);
    assert.deepEqual(planRequests([], 10, 10), []);
  });
});

describe('late chunking through the Jina API (late_chunking: true)', () => {
  let jina: FakeJina;
  before(async () => {
    jina = await startFakeJina({ modelDir: await ensureModel(), apiKey: KEY, maxTokens: 256 });
  });
  after(async () => {
    await jina?.close();
  });
  const embedder = (extra: object = {}) =>
    createJinaLateChunkEmbedder({
      apiKey: KEY,
      baseUrl: `${jina.url}/v1`,
      model: 'jina-embeddings-v2-small-en',
      task: null,
      dims: 384,
      ...extra,
    });

  it('sends one document’s chunks in order as the input list and gets one vector per chunk', async () => {
    jina.requests.length = 0;
    const vecs = await embedder().embedChunks(TEXT, chunks());
    assert.equal(jina.requests.length, 1);
    const req = jina.requests[0]!;
    assert.equal(req.headers.authorization, `Bearer ${KEY}`);
    assert.deepEqual(req.body, {
      model: 'jina-embeddings-v2-small-en',
      input: PARA,
      late_chunking: true,
      embedding_type: 'float',
      normalized: true,
    });
    // The service pooled each input over one pass of the whole document: same as our own late chunking of it.
    const local = await createLateChunkEmbedder(jina.source).embedChunks(PARA.join(' '), chunks());
    vecs.forEach((v, i) => assert.ok(1 - dot(v, local[i]!) < 1e-5, `chunk ${i}`));
  });

  it('sends task and dimensions for v3, and only the new part of overlapping chunks', async () => {
    jina.requests.length = 0;
    const c = chunks();
    const overlapping = [c[0]!, { start: c[0]!.end - 10, end: c[1]!.end }];
    await createJinaLateChunkEmbedder({ apiKey: KEY, baseUrl: `${jina.url}/v1`, dimensions: 384 }).embedChunks(TEXT, overlapping);
    const body = jina.requests[0]!.body as Record<string, unknown>;
    assert.equal(body.model, 'jina-embeddings-v3');
    assert.equal(body.task, 'retrieval.passage');
    assert.equal(body.dimensions, 384);
    assert.deepEqual(body.input, [PARA[0], TEXT.slice(c[0]!.end, c[1]!.end)]);
  });

  it('splits a long document into requests, each with preceding chunks as context whose vectors are dropped', async () => {
    jina.requests.length = 0;
    const sizes = PARA.map((p) => Buffer.byteLength(p));
    // Room for three paragraphs, then the fourth with the third as context.
    const small = embedder({ maxRequestBytes: sizes[0]! + sizes[1]! + sizes[2]! + 5, contextBytes: sizes[2]! + 5 });
    const vecs = await small.embedChunks(TEXT, chunks());
    assert.equal(vecs.length, 4);
    const inputs = jina.requests.map((r) => (r.body as { input: string[] }).input);
    assert.deepEqual(inputs, [
      [PARA[0], PARA[1], PARA[2]],
      [PARA[2], PARA[3]],
    ]);
    // The fourth chunk saw the third as context: not the same vector as embedding it alone.
    const [alone] = await embedder().embedChunks(PARA[3]!, [{ start: 0, end: PARA[3]!.length }]);
    assert.ok(dot(vecs[3]!, alone!) < 0.9999);
    for (const v of vecs) assert.ok(Math.abs(Math.sqrt(dot(v, v)) - 1) < 1e-5);
    assert.notEqual(small.identity, embedder().identity);
  });

  it('maps API errors to typed ConnectorErrors with the server’s Retry-After', async () => {
    jina.failNext(1, { status: 429, retryAfter: '7', body: { detail: 'rate limited' } });
    await assert.rejects(embedder().embedChunks(TEXT, chunks()), (e: unknown) => {
      return e instanceof ConnectorError && e.type === FailureType.RateLimited && e.retryAfterMs === 7000;
    });
    await assert.rejects(
      createJinaLateChunkEmbedder({
        apiKey: 'wrong',
        baseUrl: `${jina.url}/v1`,
        model: 'jina-embeddings-v2-small-en',
        dims: 384,
        task: null,
      }).embedChunks(TEXT, chunks()),
      (e: unknown) => e instanceof ConnectorError && /401/.test(e.message),
    );
    // A request over the model's window: the service refuses it as bad input.
    const long = Array.from({ length: 12 }, () => TEXT).join(' ');
    await assert.rejects(
      embedder({ maxRequestBytes: 100_000 }).embedChunks(long, [{ start: 0, end: long.length }]),
      (e: unknown) => e instanceof ConnectorError && e.type === FailureType.InvalidInput,
    );
    await assert.rejects(
      embedder().embedChunks(TEXT, [
        { start: 5, end: 9 },
        { start: 0, end: 4 },
      ]),
      /document order/,
    );
  });
});
