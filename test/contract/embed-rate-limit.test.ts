import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createOpenAICompatibleEmbedder } from '../../connectors/embedders/openai-compatible.ts';
import { createSqliteRateBudget } from '../../connectors/embedders/rate-budget-sqlite.ts';
import { createMemoryRateBudget, type RateBudget } from '../../connectors/embedders/rate-budget.ts';
import { startOpenAIFake } from './fakes/openai.ts';

// Two embedders, each with its own handle on the budget (as two worker processes would have), against a server
// that allows 5 requests per second and answers 429 with Retry-After beyond it. The server's own arrival log is the
// judge. bench/embed-ratelimit.ts runs the same with real processes and prints the numbers.

const LIMIT = 5;
const WINDOW = 1000;

describe('shared rate budget against a rate-limited server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-rl-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function run(budgets: RateBudget[]) {
    const server = await startOpenAIFake({ rateLimit: { requests: LIMIT, windowMs: WINDOW }, latencyMs: 20 });
    const embedders = budgets.map((budget) =>
      createOpenAICompatibleEmbedder(
        { baseUrl: `${server.url}/v1`, model: 'text-embedding-3-small', dims: 1536, maxInputs: 2, maxWaitMs: 30_000 },
        { budget },
      ),
    );
    try {
      const texts = Array.from({ length: 12 }, (_, i) => `document ${i} about rate limits`);
      const results = await Promise.all(embedders.map((e) => e.embedDocuments(texts)));
      return { server, vectors: results.flat().length };
    } finally {
      await server.close();
      await Promise.all(budgets.map((b) => b.close()));
    }
  }

  it('never exceeds the server limit and never sees a 429 when the workers share one budget', async () => {
    const path = join(dir, 'budget.db');
    const budgets = [0, 1].map(() =>
      createSqliteRateBudget({ path, name: 'openai:test', requestsPerWindow: LIMIT, windowMs: WINDOW, pollMs: 10 }),
    );
    const { server, vectors } = await run(budgets);
    assert.equal(vectors, 24);
    assert.equal(server.statusCounts()[429], undefined, 'no 429');
    assert.ok(server.maxArrivalsInWindow(WINDOW) <= LIMIT, `at most ${LIMIT} arrivals in any ${WINDOW} ms`);
    assert.equal(server.log.length, 12);
  });

  it('with a budget per process the server pushes back (429), and the calls still finish: slowed, not failed', async () => {
    const budgets = [0, 1].map(() => createMemoryRateBudget({ requestsPerWindow: LIMIT, windowMs: WINDOW }));
    const { server, vectors } = await run(budgets);
    assert.equal(vectors, 24);
    assert.ok((server.statusCounts()[429] ?? 0) > 0, 'the uncoordinated workers exceed the limit and are told so');
  });
});
