import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLateChunkEmbedder } from '../../connectors/embedders/late/late-chunking.ts';
import { createTeiLateChunkEmbedder, createTeiTokenSource } from '../../connectors/embedders/late/tei.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { type FakeTei, startFakeTei } from './fakes/late-tei.ts';

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);

// Multi-byte text everywhere: byte offsets that were read as code points or UTF-16 would shift every span after the
// first non-ASCII character, and the vectors would stop matching the local backend's.
const PARA = [
  'Tromsø 🌌 lies north of the Arctic Circle; its café owners sell cloudberry jam — “multe” in Norwegian.',
  'In winter the sun does not rise for two months, and the town lights its bridge in green to echo the aurora.',
  '中文 visitors often ask about the polar night; guides answer in English, Norsk and a little Japanese (日本語).',
  'The university runs a research station on Svalbard where students measure permafrost every summer.',
];
const TEXT = PARA.join('\n\n');
const spansOf = (text: string, parts: string[]) =>
  parts.map((p) => {
    const start = text.indexOf(p);
    return { start, end: start + p.length };
  });

describe('late chunking on a TEI server (/tokenize + /embed_all)', () => {
  let tei: FakeTei;
  const model = 'sentence-transformers/all-MiniLM-L6-v2';

  before(async () => {
    tei = await startFakeTei({ modelDir: await ensureModel(), maxClientBatch: 4 });
  });
  after(async () => {
    await tei?.close();
  });

  it('maps byte offsets to the same token spans as the local tokenizer gives in code points', async () => {
    const remote = await createTeiTokenSource({ baseUrl: tei.url, model }).tokenize(TEXT);
    const local = await tei.source.tokenize(TEXT);
    assert.deepEqual(remote.ids, local.ids);
    assert.deepEqual(remote.spans, local.spans);
    assert.deepEqual(remote.special, local.special);
    const req = tei.requests.at(-1)!;
    assert.deepEqual(req.body, { inputs: TEXT, add_special_tokens: true });
  });

  it('gives the local backend vectors, in one window and across macro windows', async () => {
    const chunks = spansOf(TEXT, PARA);
    for (const windowTokens of [256, 32]) {
      tei.requests.length = 0;
      const remote = createTeiLateChunkEmbedder({
        baseUrl: tei.url,
        model,
        windowTokens,
        overlapTokens: 8,
        windowsPerRequest: 3,
      });
      const local = createLateChunkEmbedder({ ...tei.source, windowTokens, close: async () => {} }, { overlapTokens: 8 });
      const a = await remote.embedChunks(TEXT, chunks);
      const b = await local.embedChunks(TEXT, chunks);
      assert.equal(a.length, chunks.length);
      a.forEach((v, i) => assert.ok(1 - dot(v, b[i]!) < 1e-5, `window ${windowTokens}, chunk ${i}: cosine ${dot(v, b[i]!)}`));
      const embeds = tei.requests.filter((r) => r.path === '/embed_all');
      for (const r of embeds) {
        const body = r.body as { inputs: number[][]; truncate: boolean };
        assert.equal(body.truncate, false);
        assert.ok(body.inputs.length <= 3);
        for (const ids of body.inputs) assert.ok(ids.length <= windowTokens && ids.every(Number.isInteger));
      }
      if (windowTokens === 32) assert.ok(embeds.length >= 2, 'several requests for the macro windows');
    }
  });

  it('turns server errors into typed ConnectorErrors', async () => {
    const late = createTeiLateChunkEmbedder({ baseUrl: tei.url, model });
    const chunks = [{ start: 0, end: 10 }];
    tei.failNext(1, { status: 429, body: { error: 'Model is overloaded', error_type: 'Overloaded' } });
    await assert.rejects(
      late.embedChunks(TEXT, chunks),
      (e: unknown) => e instanceof ConnectorError && e.type === FailureType.RateLimited && e.retryable,
    );
    tei.failNext(1, { status: 503, body: { error: 'unhealthy', error_type: 'Unhealthy' } });
    await assert.rejects(
      late.embedChunks(TEXT, chunks),
      (e: unknown) => e instanceof ConnectorError && e.type === FailureType.Unavailable,
    );
    // A window above the server's max_input_length: the server refuses it (413), non-retryable.
    const tooWide = createTeiLateChunkEmbedder({ baseUrl: tei.url, model, windowTokens: 400 });
    await assert.rejects(
      tooWide.embedChunks(TEXT.repeat(4), [{ start: 0, end: 10 }]),
      (e: unknown) => e instanceof ConnectorError && e.type === FailureType.InvalidInput && !e.retryable,
    );
    // Offsets that do not fit the text (a server tokenizing something else) are caught, not silently misused.
    tei.failNext(1, { status: 200, body: [[{ id: 1, text: 'x', special: false, start: 0, stop: 9999 }]] });
    await assert.rejects(
      late.embedChunks(TEXT, chunks),
      (e: unknown) => e instanceof ConnectorError && /offsets/.test(e.message),
    );
    // Nothing listening.
    const gone = createTeiLateChunkEmbedder({ baseUrl: 'http://127.0.0.1:9', model, timeoutMs: 2000 });
    await assert.rejects(gone.embedChunks(TEXT, chunks), (e: unknown) => e instanceof ConnectorError && e.retryable);
  });

  it('refuses a model it cannot late-chunk or size', () => {
    assert.throws(() => createTeiTokenSource({ baseUrl: tei.url, model: 'BAAI/bge-small-en-v1.5' }), /mean-pooled/);
    assert.throws(() => createTeiTokenSource({ baseUrl: tei.url, model: 'someone/unknown-model' }), /dims/);
  });
});
