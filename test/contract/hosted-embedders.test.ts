import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCohereEmbedder } from '../../connectors/embedders/cohere.ts';
import type { HostedEmbedder } from '../../connectors/embedders/hosted.ts';
import { createJinaEmbedder } from '../../connectors/embedders/jina.ts';
import { createOpenAICompatibleEmbedder } from '../../connectors/embedders/openai-compatible.ts';
import { createTeiEmbedder } from '../../connectors/embedders/tei.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { embedderContract, type EmbedderFactory, type EmbedderUnderTest } from './embedder.contract.ts';
import { startCohereFake } from './fakes/cohere.ts';
import { startJinaFake } from './fakes/jina.ts';
import { startOpenAIFake } from './fakes/openai.ts';
import { cut, fakeVector, type FakeServer } from './fakes/server.ts';
import { startTeiFake } from './fakes/tei.ts';

// Every hosted provider through the shared contract, each against a local server that reproduces its API's
// documented shapes, limits and errors; then what is particular to each provider.

const KEY = 'test-key';
const tooLong = (tokens: number): string => Array.from({ length: tokens }, (_, i) => `w${i}`).join(' ');

async function withServer(server: FakeServer, make: () => HostedEmbedder, badInput?: string): Promise<EmbedderUnderTest> {
  const embedder = make();
  return {
    embedder,
    server,
    ...(badInput !== undefined ? { badInput } : {}),
    cleanup: async () => {
      await embedder.close();
      await server.close();
    },
  };
}

function openaiAt(
  prefix: string,
  provider: 'vllm' | 'tei' | 'ark' | 'mixedbread' | 'infinity',
  model: string,
  dims: number,
  extra = {},
): EmbedderFactory {
  return async (o) => {
    const server = await startOpenAIFake({
      apiKey: KEY,
      prefix,
      models: { [model]: { dims, dimensions: true } },
      maxTokensPerInput: 200,
    });
    return withServer(
      server,
      () =>
        createOpenAICompatibleEmbedder({ provider, baseUrl: `${server.url}${prefix}`, apiKey: KEY, model, dims, ...extra, ...o }),
      tooLong(300),
    );
  };
}

const openaiFactory: EmbedderFactory = async (o) => {
  const server = await startOpenAIFake({ apiKey: KEY, maxTokensPerInput: 200 });
  return withServer(
    server,
    () =>
      createOpenAICompatibleEmbedder({
        provider: 'openai',
        baseUrl: `${server.url}/v1`,
        apiKey: KEY,
        model: 'text-embedding-3-small',
        dims: 1536,
        dimensions: 256,
        matryoshkaDims: 'any',
        ...o,
      }),
    tooLong(300),
  );
};

embedderContract('openai (fake, base64, server-side dimensions)', openaiFactory);
embedderContract('vllm (fake)', openaiAt('/v1', 'vllm', 'BAAI/bge-m3', 1024));
embedderContract('tei /v1/embeddings (fake)', openaiAt('/v1', 'tei', 'bge-small-en-v1.5', 384));
embedderContract('infinity (fake)', openaiAt('', 'infinity', 'mxbai-embed-large-v1', 1024));
embedderContract('mixedbread (fake)', openaiAt('/v1', 'mixedbread', 'mixedbread-ai/mxbai-embed-large-v1', 1024));
embedderContract(
  'volcengine ark seed1.5 (fake, 2048 cut to 512 here)',
  openaiAt('/api/v3', 'ark', 'doubao-embedding-seed-1.5', 2048, { dimensions: 512, matryoshkaDims: [256, 512, 1024] }),
);
embedderContract('tei /embed (fake)', async (o) => {
  const server = await startTeiFake({ apiKey: KEY, dims: 384, maxInputLength: 200 });
  return withServer(
    server,
    () => createTeiEmbedder({ baseUrl: server.url, apiKey: KEY, model: 'bge-small-en-v1.5', dims: 384, truncate: false, ...o }),
    tooLong(300),
  );
});
embedderContract('cohere v2 (fake, float)', async (o) => {
  const server = await startCohereFake({ apiKey: KEY });
  return withServer(
    server,
    () =>
      createCohereEmbedder({ baseUrl: server.url, apiKey: KEY, model: 'embed-english-v3.0', dims: 1024, truncate: 'NONE', ...o }),
    tooLong(600),
  );
});
embedderContract('cohere v2 (fake, int8)', async (o) => {
  const server = await startCohereFake({ apiKey: KEY });
  return withServer(
    server,
    () =>
      createCohereEmbedder({
        baseUrl: server.url,
        apiKey: KEY,
        model: 'embed-english-v3.0',
        dims: 1024,
        embeddingType: 'int8',
        truncate: 'NONE',
        ...o,
      }),
    tooLong(600),
  );
});
embedderContract('cohere v2 (fake, embed-v4 binary at 512 dims)', async (o) => {
  const server = await startCohereFake({ apiKey: KEY });
  return withServer(
    server,
    () =>
      createCohereEmbedder({
        baseUrl: server.url,
        apiKey: KEY,
        model: 'embed-v4.0',
        dims: 1536,
        dimensions: 512,
        matryoshkaDims: [256, 512, 1024],
        embeddingType: 'binary',
        truncate: 'NONE',
        ...o,
      }),
    tooLong(200_000),
  );
});
embedderContract('jina v3 (fake, dimensions 256)', async (o) => {
  const server = await startJinaFake({ apiKey: KEY });
  return withServer(
    server,
    () =>
      createJinaEmbedder({
        baseUrl: `${server.url}/v1`,
        apiKey: KEY,
        model: 'jina-embeddings-v3',
        dims: 1024,
        dimensions: 256,
        matryoshkaDims: [32, 64, 128, 256, 512, 768],
        truncate: false,
        ...o,
      }),
    tooLong(9000),
  );
});

describe('provider specifics', () => {
  it('refuses Matryoshka truncation a model was not trained for', () => {
    const make = (extra: object) => () =>
      createOpenAICompatibleEmbedder({
        provider: 'openai',
        apiKey: KEY,
        model: 'text-embedding-ada-002',
        dims: 1536,
        dimensions: 512,
        ...extra,
      });
    assert.throws(
      make({}),
      (e: unknown) =>
        e instanceof ConnectorError && e.type === FailureType.InvalidInput && /ada-002 cannot be truncated/.test(e.message),
    );
    assert.throws(make({ matryoshkaDims: [256] }), /Matryoshka sizes allowed: 256/);
    assert.throws(make({ apiKey: undefined, dimensions: undefined }), /openai embedder needs an apiKey/);
  });

  it('openai: sends `dimensions` and base64; ark: cuts and renormalises the full vector locally', async () => {
    const server = await startOpenAIFake({ models: { m: { dims: 2048, dimensions: true } }, prefix: '/api/v3' });
    const url = `${server.url}/api/v3`;
    const common = { baseUrl: url, apiKey: KEY, model: 'm', dims: 2048, dimensions: 512, matryoshkaDims: [512] };
    const remote = createOpenAICompatibleEmbedder({ ...common, provider: 'openai' });
    const local = createOpenAICompatibleEmbedder({ ...common, provider: 'ark' });
    try {
      const [a] = await remote.embedDocuments(['matryoshka test']);
      const [b] = await local.embedDocuments(['matryoshka test']);
      const bodies = server.log.map((e) => e.body as { dimensions?: number; encoding_format?: string });
      assert.deepEqual(bodies[0], { model: 'm', input: ['matryoshka test'], encoding_format: 'base64', dimensions: 512 });
      assert.equal(bodies[1]!.dimensions, undefined);
      const expected = cut(fakeVector('matryoshka test', 2048), 512);
      for (const v of [a!, b!]) for (let i = 0; i < 512; i++) assert.ok(Math.abs(v[i]! - expected[i]!) < 1e-6);
    } finally {
      await server.close();
    }
  });

  it('openai: a request over the per-request token limit is split, and no input is blamed', async () => {
    const server = await startOpenAIFake({ maxTokensPerRequest: 40 });
    const e = createOpenAICompatibleEmbedder({
      provider: 'openai',
      apiKey: KEY,
      baseUrl: `${server.url}/v1`,
      model: 'text-embedding-3-small',
      dims: 1536,
    });
    try {
      const texts = Array.from({ length: 8 }, (_, i) => `sentence ${i} with exactly seven words`);
      assert.equal((await e.embedDocuments(texts)).length, 8);
      assert.ok(server.log.some((l) => l.status === 400));
    } finally {
      await server.close();
    }
  });

  it('openai: insufficient_quota is not waited on: a retryable Unavailable at once', async () => {
    const server = await startOpenAIFake();
    const e = createOpenAICompatibleEmbedder({
      provider: 'openai',
      apiKey: KEY,
      baseUrl: `${server.url}/v1`,
      model: 'text-embedding-3-small',
      dims: 1536,
    });
    server.failNext(1, {
      status: 429,
      body: { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } },
    });
    try {
      await assert.rejects(
        e.embedQuery('x'),
        (err: unknown) => err instanceof ConnectorError && err.type === FailureType.Unavailable,
      );
      assert.equal(server.log.length, 1);
    } finally {
      await server.close();
    }
  });

  it('tei: a batch above the server limit (413) is halved; an overloaded server (429, no Retry-After) is backed off', async () => {
    const server = await startTeiFake({ maxClientBatchSize: 4, maxConcurrent: 1, latencyMs: 20 });
    const e = createTeiEmbedder({ baseUrl: server.url, model: 'm', dims: 384, maxInputs: 8, concurrency: 4 });
    try {
      const out = await e.embedDocuments(Array.from({ length: 40 }, (_, i) => `doc ${i}`));
      assert.equal(out.length, 40);
      const counts = server.statusCounts();
      assert.ok((counts[413] ?? 0) > 0, 'saw 413');
      assert.ok((counts[429] ?? 0) > 0, 'saw 429 Overloaded');
    } finally {
      await server.close();
    }
  });

  it('cohere: input_type follows documents and queries; binary is the sign of the float vector', async () => {
    const server = await startCohereFake({ apiKey: KEY });
    const base = { baseUrl: server.url, apiKey: KEY, model: 'embed-english-v3.0', dims: 1024 };
    const bin = createCohereEmbedder({ ...base, embeddingType: 'ubinary' });
    try {
      const [d] = await bin.embedDocuments(['binary signs']);
      await bin.embedQuery('a query');
      const types = server.log.map((l) => (l.body as { input_type: string }).input_type);
      assert.deepEqual(types, ['search_document', 'search_query']);
      const f = fakeVector('binary signs', 1024);
      for (let i = 0; i < 1024; i++) assert.equal(d![i], f[i]! > 0 ? 1 : -1);
      assert.equal(bin.metric, 'dot');
    } finally {
      await server.close();
    }
  });

  it('jina: task per kind; late chunking sends a document as ordered windows and its vectors carry context', async () => {
    const server = await startJinaFake({ apiKey: KEY });
    const base = { baseUrl: `${server.url}/v1`, apiKey: KEY, model: 'jina-embeddings-v3', dims: 1024 };
    const late = createJinaEmbedder({ ...base, lateChunking: true, lateChunkingWindow: 30 });
    const plain = createJinaEmbedder(base);
    try {
      const chunks = Array.from({ length: 6 }, (_, i) => `chunk ${i} of a long document about rivers`);
      const [l0] = await late.embedDocuments(chunks);
      await late.embedQuery('rivers');
      const [p0] = await plain.embedDocuments(chunks);
      const bodies = server.log.map((x) => x.body as { task: string; late_chunking: boolean; input: string[] });
      const lateDocs = bodies.filter((b) => b.late_chunking);
      assert.deepEqual(
        lateDocs.flatMap((b) => b.input),
        chunks,
        'windows in order, each input once',
      );
      assert.ok(lateDocs.length > 1, 'a document over the window is sent as several windows');
      assert.ok(bodies.every((b) => b.task === (b.input[0] === 'rivers' ? 'retrieval.query' : 'retrieval.passage')));
      assert.ok(Math.abs(l0![0]! - p0![0]!) > 0 || l0!.some((x, i) => x !== p0![i]), 'late vectors differ from isolated ones');
    } finally {
      await server.close();
    }
  });
});
