import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { createCohereReranker } from '../../connectors/rerankers/cohere.ts';
import { createJinaReranker } from '../../connectors/rerankers/jina.ts';
import { createLocalOnnxReranker } from '../../connectors/rerankers/local-onnx.ts';
import { RERANKER_MANIFEST_FILE } from '../../connectors/rerankers/model-files.ts';
import type { Reranker } from '../../connectors/rerankers/reranker.ts';
import { createTeiReranker } from '../../connectors/rerankers/tei.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { startCohereRerankFake } from './fakes/cohere-rerank.ts';
import { startJinaRerankFake } from './fakes/jina-rerank.ts';
import { writeLexicalCrossEncoder } from './fakes/lexical-cross-encoder.ts';
import type { FakeServer } from './fakes/server.ts';
import { startTeiRerankFake } from './fakes/tei-rerank.ts';
import { rerankerContract, type RerankerUnderTest } from './reranker.contract.ts';

// Every Reranker through the shared contract: the hosted APIs against local servers that reproduce their documented
// shapes, limits and errors, and the local ONNX cross-encoder in-process; then what is particular to each provider.

const KEY = 'test-key';

function withServer(server: FakeServer, reranker: Reranker): RerankerUnderTest {
  return {
    reranker,
    server,
    cleanup: async () => {
      await reranker.close();
      await server.close();
    },
  };
}

rerankerContract('jina /v1/rerank (fake)', async (o) => {
  const server = await startJinaRerankFake({ apiKey: KEY });
  return withServer(server, createJinaReranker({ baseUrl: `${server.url}/v1`, apiKey: KEY, ...o }));
});

rerankerContract('cohere v2 /rerank (fake)', async (o) => {
  const server = await startCohereRerankFake({ apiKey: KEY });
  return withServer(server, createCohereReranker({ baseUrl: server.url, apiKey: KEY, maxTokensPerDoc: 512, ...o }));
});

rerankerContract('tei /rerank (fake)', async (o) => {
  const server = await startTeiRerankFake({ apiKey: KEY, maxClientBatchSize: 32, maxInputLength: 512 });
  return withServer(server, createTeiReranker({ baseUrl: server.url, apiKey: KEY, model: 'bge-reranker-base', ...o }));
});

// The real local cross-encoder: a model folder with reranker.json (RAGLINE_RERANKER_DIR). No registry package we
// could find ships cross-encoder weights, so the bootstrap installs none and CI runs the stand-in below only.
const realDir = process.env.RAGLINE_RERANKER_DIR;
if (realDir && existsSync(join(realDir, RERANKER_MANIFEST_FILE))) {
  rerankerContract(
    `local-onnx cross-encoder (${realDir})`,
    async () => {
      const reranker = await createLocalOnnxReranker({ modelDir: realDir });
      return { reranker, cleanup: () => reranker.close() };
    },
    { hosted: false },
  );
}

// The same code path on a stand-in graph with the same inputs and output (fakes/lexical-cross-encoder.ts): proves
// tokenisation with a real BERT tokenizer, the pair template, truncation, batching and the head, not model quality.
rerankerContract(
  'local-onnx (lexical stand-in graph, real BERT tokenizer)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ragline-lexical-ce-'));
    const tokenizer = join(await ensureModel(), 'tokenizer.json');
    await writeLexicalCrossEncoder(dir, tokenizer, 128);
    // A small batch budget, so the suite's inputs span several onnxruntime runs.
    const reranker = await createLocalOnnxReranker({ modelDir: dir, maxBatchTokens: 256 });
    return {
      reranker,
      cleanup: async () => {
        await reranker.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { hosted: false },
);

describe('reranker provider specifics', () => {
  it('jina: sends top_n when one request holds the call, never asks for the documents back', async () => {
    const server = await startJinaRerankFake({ apiKey: KEY });
    const r = createJinaReranker({ baseUrl: `${server.url}/v1`, apiKey: { env: 'JINA_KEY' } }, { env: { JINA_KEY: KEY } });
    try {
      await r.rerank('q words', ['a', 'b', 'c'], { topN: 2 });
      assert.deepEqual(server.log.at(-1)!.body, {
        model: 'jina-reranker-v2-base-multilingual',
        query: 'q words',
        documents: ['a', 'b', 'c'],
        return_documents: false,
        top_n: 2,
      });
    } finally {
      await r.close();
      await server.close();
    }
  });

  it('cohere: sends model and max_tokens_per_doc; a split call asks each part for every score', async () => {
    const server = await startCohereRerankFake({ apiKey: KEY });
    const r = createCohereReranker({ baseUrl: server.url, apiKey: KEY, maxDocuments: 2, maxTokensPerDoc: 100 });
    try {
      const out = await r.rerank('capital of France', ['Paris is the capital of France.', 'x y', 'z', 'France'], { topN: 2 });
      assert.deepEqual(
        out.map((x) => x.index),
        [0, 3],
      );
      const bodies = server.log.map((e) => e.body as Record<string, unknown>);
      assert.equal(bodies.length, 2);
      for (const b of bodies) {
        assert.equal(b.model, 'rerank-v3.5');
        assert.equal(b.max_tokens_per_doc, 100);
        assert.equal(b.top_n, undefined);
      }
    } finally {
      await r.close();
      await server.close();
    }
  });

  it('cohere: an unknown model is a retryable Unavailable (the operator fixes it), not bad input', async () => {
    const server = await startCohereRerankFake({ apiKey: KEY });
    const r = createCohereReranker({ baseUrl: server.url, apiKey: KEY, model: 'rerank-nope' });
    try {
      const err = await r.rerank('q', ['d']).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectorError && err.type === FailureType.Unavailable && err.retryable);
      assert.match(err.message, /not found/);
    } finally {
      await r.close();
      await server.close();
    }
  });

  it('tei: a batch over --max-client-batch-size (413) is halved until it fits', async () => {
    const server = await startTeiRerankFake({ maxClientBatchSize: 3 });
    const r = createTeiReranker({ baseUrl: server.url, model: 'm', maxDocuments: 8 });
    try {
      const docs = Array.from({ length: 7 }, (_, i) => (i === 5 ? 'berlin population' : `doc ${i}`));
      const out = await r.rerank('berlin population', docs);
      assert.equal(out.length, 7);
      assert.equal(out[0]!.index, 5);
      // 7 refused, then its first half (4) refused; 2 + 2 + 3 served (the halves run concurrently).
      assert.deepEqual(server.statusCounts(), { 413: 2, 200: 3 });
    } finally {
      await r.close();
      await server.close();
    }
  });

  it('tei: raw_scores gives logits and a logit score kind', async () => {
    const server = await startTeiRerankFake();
    const r = createTeiReranker({ baseUrl: server.url, model: 'm', rawScores: true });
    try {
      assert.equal(r.scoreKind, 'logit');
      const out = await r.rerank('alpha beta', ['alpha beta', 'gamma']);
      assert.deepEqual(
        out.map((x) => x.score),
        [4, -4],
      );
      assert.equal((server.log[0]!.body as { raw_scores: boolean }).raw_scores, true);
    } finally {
      await r.close();
      await server.close();
    }
  });

  it('a secret named by { env } that is unset fails at construction, naming the variable', () => {
    assert.throws(
      () => createJinaReranker({ apiKey: { env: 'NO_SUCH_KEY' } }, { env: {} }),
      (e: unknown) => e instanceof ConnectorError && e.type === FailureType.InvalidInput && /NO_SUCH_KEY/.test(e.message),
    );
  });

  it('a malformed answer is a retryable Unavailable', async () => {
    const server = await startTeiRerankFake();
    const r = createTeiReranker({ baseUrl: server.url, model: 'm' });
    try {
      server.failNext(1, { status: 200, body: [{ index: 7, score: 0.5 }] });
      const err = await r.rerank('q', ['d']).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectorError && err.type === FailureType.Unavailable && err.retryable);
      assert.match(err.message, /malformed/);
    } finally {
      await r.close();
      await server.close();
    }
  });

  it('local-onnx: a folder without a model is NotFound, naming the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ragline-no-ce-'));
    try {
      await assert.rejects(
        createLocalOnnxReranker({ modelDir: dir }),
        (e: unknown) => e instanceof ConnectorError && e.type === FailureType.NotFound && e.message.includes(dir),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('local-onnx: an encoder without a classification head is refused', async () => {
    const dir = await ensureModel();
    const tmp = await mkdtemp(join(tmpdir(), 'ragline-headless-'));
    try {
      // The embedder's folder holds a plain encoder: give it a reranker manifest and watch the shape check fire.
      const { writeFile, symlink } = await import('node:fs/promises');
      for (const f of ['model.onnx', 'tokenizer.json', 'config.json']) await symlink(join(dir, f), join(tmp, f));
      await writeFile(
        join(tmp, RERANKER_MANIFEST_FILE),
        JSON.stringify({ name: 'headless', hfId: 'x', kind: 'cross-encoder', maxTokens: 128, scoring: 'sigmoid', files: {} }),
      );
      const r = await createLocalOnnxReranker({ modelDir: tmp });
      try {
        await assert.rejects(r.rerank('q', ['d']), /not a cross-encoder/);
      } finally {
        await r.close();
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
