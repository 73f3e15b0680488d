import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createOpenAICompatibleEmbedder } from '../../connectors/embedders/openai-compatible.ts';
import { createPostgresRateBudget, type PostgresRateBudgetConfig } from '../../connectors/embedders/rate-budget-postgres.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { defaultPipelineSpec, validatePipelineSpec } from '../../pipeline/spec.ts';
import { hostedEmbedderFor, isHosted } from '../../workers/hosted-embedder.ts';
import { postgresServer, stack, uniqueName } from '../support/stack.ts';
import { startOpenAIFake } from './fakes/openai.ts';
import { rateBudgetContract, rejectsRateLimited } from './rate-budget.contract.ts';

// The shared budget contract on the real PostgreSQL (each handle stands for one host of a fleet), and what only a
// fleet needs: clock skew, pruning, typed connection errors, two hosts against a rate-limited server.

const server = postgresServer;

describe('PostgreSQL rate budget', () => {
  const schema = uniqueName('budget_test', '_').toLowerCase();
  const open = (c: Omit<PostgresRateBudgetConfig, 'schema'>) =>
    createPostgresRateBudget({ ...server, schema, poolSize: 2, ...c });
  async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client(server);
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }
  after(() => sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));

  rateBudgetContract((c) => open({ windowMs: 60_000, ...c }));

  it('is migrated once by handles starting together', async () => {
    const handles = [open({ name: 'migrate' }), open({ name: 'migrate' }), open({ name: 'migrate-2' })];
    try {
      await Promise.all(handles.map(async (h) => (await h.acquire({ requests: 1, tokens: 0 })).settle()));
      const versions = await sql(`SELECT component, version FROM "${schema}".schema_versions`);
      assert.deepEqual(versions, [{ component: 'rate_budget', version: 1 }]);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
  });

  it('keeps a host whose clock runs ten minutes behind from slipping requests past the others', async () => {
    const [late, b] = [open({ name: 'skew', requestsPerWindow: 1 }), open({ name: 'skew', requestsPerWindow: 1 })];
    const realNow = Date.now;
    try {
      Date.now = () => realNow() - 600_000;
      try {
        await (await late.acquire({ requests: 1, tokens: 0 })).settle();
      } finally {
        Date.now = realNow;
      }
      // Stored in host time, the late host's entry would have expired ten minutes ago; in server time it counts a window.
      await assert.rejects(b.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 50 }), rejectsRateLimited(59_000));
    } finally {
      await Promise.all([late.close(), b.close()]);
    }
  });

  it('prunes entries once they stop counting, and a block once it lifts', async () => {
    const a = open({ name: 'prune', requestsPerWindow: 1, windowMs: 50 });
    try {
      await (await a.acquire({ requests: 1, tokens: 0 }, { leaseMs: 50 })).settle();
      await a.observe({ retryAfterMs: 20 });
      await new Promise((r) => setTimeout(r, 120));
      await (await a.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() })).settle();
      const rows = await sql(`SELECT count(*)::int AS n FROM "${schema}".rate_entries WHERE budget = 'prune'`);
      assert.deepEqual(rows, [{ n: 1 }]);
      assert.deepEqual(await sql(`SELECT * FROM "${schema}".rate_blocks WHERE budget = 'prune'`), []);
    } finally {
      await a.close();
    }
  });

  it('fails as typed errors: unreachable is retryable Unavailable, a wrong password is InvalidInput, closed is InvalidInput', async () => {
    const nowhere = createPostgresRateBudget({ host: '127.0.0.1', port: 1, schema, name: 'x', connectTimeoutMs: 2000 });
    await assert.rejects(nowhere.acquire({ requests: 1, tokens: 0 }), (e: unknown) => {
      assert.ok(e instanceof ConnectorError && e.type === FailureType.Unavailable && e.retryable, String(e));
      return true;
    });
    await nowhere.close();
    const denied = createPostgresRateBudget({ ...server, password: 'wrong', schema, name: 'x' });
    await assert.rejects(denied.acquire({ requests: 1, tokens: 0 }), (e: unknown) => {
      assert.ok(e instanceof ConnectorError && e.type === FailureType.InvalidInput && !e.retryable, String(e));
      assert.doesNotMatch(e.message, /wrong/);
      return true;
    });
    await denied.close();
    const closed = open({ name: 'x' });
    await closed.close();
    await assert.rejects(closed.acquire({ requests: 1, tokens: 0 }), /is closed/);
  });

  it('rejects settings that cannot work at the edge', () => {
    assert.throws(() => createPostgresRateBudget({ ...server, schema, name: '' }), /name/);
    assert.throws(
      () => createPostgresRateBudget({ name: 'x', requestsPerWindow: 0 } as PostgresRateBudgetConfig),
      /url|requestsPerWindow/,
    );
  });

  // Two embedders, each with its own handle (two hosts), against a server allowing 5 requests per second that answers
  // 429 with Retry-After beyond it; the server's arrival log is the judge (as test/contract/embed-rate-limit.test.ts).
  it('two hosts sharing it never exceed a rate-limited server and never see a 429', async () => {
    const LIMIT = 5;
    const WINDOW = 1000;
    const fake = await startOpenAIFake({ rateLimit: { requests: LIMIT, windowMs: WINDOW }, latencyMs: 20 });
    const budgets = [0, 1].map(() => open({ name: 'openai:fleet', requestsPerWindow: LIMIT, windowMs: WINDOW, pollMs: 10 }));
    try {
      const embedders = budgets.map((budget) =>
        createOpenAICompatibleEmbedder(
          { baseUrl: `${fake.url}/v1`, model: 'text-embedding-3-small', dims: 1536, maxInputs: 2, maxWaitMs: 30_000 },
          { budget },
        ),
      );
      const texts = Array.from({ length: 12 }, (_, i) => `document ${i} about rate limits`);
      const results = await Promise.all(embedders.map((e) => e.embedDocuments(texts)));
      assert.equal(results.flat().length, 24);
      assert.equal(fake.statusCounts()[429], undefined, 'no 429');
      assert.ok(fake.maxArrivalsInWindow(WINDOW) <= LIMIT, `at most ${LIMIT} arrivals in any ${WINDOW} ms`);
      assert.equal(fake.log.length, 12);
    } finally {
      await fake.close();
      await Promise.all(budgets.map((b) => b.close()));
    }
  });
});

describe('hosted embedder budget wiring', () => {
  const schema = uniqueName('budget_wiring', '_').toLowerCase();
  const dir = mkdtempSync(join(tmpdir(), 'ragline-budget-wiring-'));
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    const client = new pg.Client(server);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  async function embedOnce(ledger: Record<string, unknown>, url: string) {
    const spec = validatePipelineSpec({
      ...defaultPipelineSpec({ dataDir: dir, chromaPort: stack.ports.chroma }),
      embedder: {
        kind: 'openai-compatible',
        baseUrl: `${url}/v1`,
        model: 'text-embedding-3-small',
        dims: 1536,
        budget: { requestsPerWindow: 10, path: 'budget.sqlite' },
      },
      ledger,
    });
    assert.ok(isHosted(spec.embedder));
    const { embedder } = await hostedEmbedderFor(spec.embedder, spec.ledger, (p) => join(dir, p), {});
    try {
      await embedder.embedDocuments(['one text']);
    } finally {
      await embedder.close();
    }
  }

  it("keeps the budget in the PostgreSQL ledger's schema, shared by the fleet, and the SQLite file otherwise", async () => {
    const fake = await startOpenAIFake({});
    try {
      await embedOnce({ kind: 'postgres', ...server, schema }, fake.url);
      const client = new pg.Client(server);
      await client.connect();
      const { rows } = await client.query(`SELECT budget FROM "${schema}".rate_entries`);
      await client.end();
      assert.equal(rows.length, 1);
      assert.match(rows[0].budget, /^generic:http:.*:text-embedding-3-small:nokey$/);
      assert.equal(existsSync(join(dir, 'budget.sqlite')), false, 'budget.path is ignored with a PostgreSQL ledger');

      await embedOnce({ kind: 'sqlite', path: join(dir, 'ledger.sqlite') }, fake.url);
      assert.equal(existsSync(join(dir, 'budget.sqlite')), true);
    } finally {
      await fake.close();
    }
  });
});
