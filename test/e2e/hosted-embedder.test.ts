import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startOpenAIFake } from '../contract/fakes/openai.ts';
import type { FakeServer } from '../contract/fakes/server.ts';
import { Harness } from './support.ts';

// A pipeline embedding through an OpenAI-compatible API (a local server reproducing the API, its limits and its 429s:
// the real service is out of reach here) under a rate limit of 5 requests per second. The pipeline's shared budget
// keeps every embed activity under it, so no document fails and the server never has to refuse; a reindex of the
// same corpus with the same model is served from the embedding cache without one request.

const LIMIT = 5;
const WINDOW_MS = 1000;

describe('hosted embedder in the pipeline: shared rate budget and the embedding cache', () => {
  let server: FakeServer;
  let h: Harness;
  before(async () => {
    server = await startOpenAIFake({ apiKey: 'sk-test', rateLimit: { requests: LIMIT, windowMs: WINDOW_MS }, latencyMs: 10 });
    h = new Harness({
      chunker: { kind: 'recursive', chunkSize: 24, chunkOverlap: 0 },
      embedder: {
        kind: 'openai-compatible',
        provider: 'openai',
        baseUrl: `${server.url}/v1`,
        apiKey: 'sk-test',
        model: 'text-embedding-3-small',
        dims: 1536,
        maxInputs: 4,
        batchSize: 8,
        budget: { requestsPerWindow: LIMIT, windowMs: WINDOW_MS, path: join('budget', 'rate-budget.sqlite') },
      },
    });
    await h.start();
    for (let i = 0; i < 10; i++)
      await h.put(`hosted/doc-${i}.txt`, `Report ${i}: the river delta shifts its channels every season. `.repeat(6));
  });
  after(async () => {
    await h?.stop();
    await server?.close();
  });

  it('ingests every document under the limit: no 429, never more than the budget in any window', async () => {
    const counts = await h.ingestAll();
    assert.deepEqual({ ingested: counts.ingested, failed: counts.failed }, { ingested: 10, failed: 0 });
    assert.ok(server.log.length >= 10, `requests: ${server.log.length}`);
    assert.equal(server.statusCounts()[429], undefined, JSON.stringify(server.statusCounts()));
    assert.ok(server.maxArrivalsInWindow(WINDOW_MS) <= LIMIT, `max ${server.maxArrivalsInWindow(WINDOW_MS)} in a window`);
  });

  it('a reindex (new pipeline version, same model) embeds every chunk from the cache: zero requests', async () => {
    const before = server.log.length;
    await h.upgrade({});
    const counts = await h.ingestAll();
    assert.deepEqual({ ingested: counts.ingested, failed: counts.failed }, { ingested: 10, failed: 0 });
    assert.equal(counts.cached, counts.chunks);
    assert.ok(counts.chunks > 0);
    assert.equal(server.log.length, before, 'no embedding request on the second run');
  });
});
