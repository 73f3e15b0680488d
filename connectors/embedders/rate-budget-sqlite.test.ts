import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createSqliteRateBudget } from './rate-budget-sqlite.ts';

describe('SQLite rate budget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-budget-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is one budget for every handle on the file (as for worker processes), and separate per name', async () => {
    const path = join(dir, 'shared.db');
    const a = createSqliteRateBudget({ path, name: 'api', requestsPerWindow: 2, windowMs: 60_000 });
    const b = createSqliteRateBudget({ path, name: 'api', requestsPerWindow: 2, windowMs: 60_000 });
    const other = createSqliteRateBudget({ path, name: 'other', requestsPerWindow: 2, windowMs: 60_000 });
    try {
      await (await a.acquire({ requests: 1, tokens: 0 })).settle();
      await (await b.acquire({ requests: 1, tokens: 0 })).settle();
      await assert.rejects(a.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 50 }), /rate budget exhausted/);
      await assert.rejects(b.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 50 }), /rate budget exhausted/);
      await (await other.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() })).settle();
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });

  it('shares a Retry-After block with every handle', async () => {
    const path = join(dir, 'block.db');
    const a = createSqliteRateBudget({ path, name: 'api' });
    const b = createSqliteRateBudget({ path, name: 'api' });
    try {
      await a.observe({ retryAfterMs: 30_000 });
      await assert.rejects(b.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 100 }), (e: unknown) => {
        assert.ok((e as { retryAfterMs: number }).retryAfterMs > 29_000);
        return true;
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('counts the tokens the server reported instead of the estimate', async () => {
    const path = join(dir, 'tokens.db');
    const a = createSqliteRateBudget({ path, name: 'api', tokensPerWindow: 100, windowMs: 60_000 });
    try {
      const g = await a.acquire({ requests: 1, tokens: 90 });
      await g.settle(10);
      await (await a.acquire({ requests: 1, tokens: 90 }, { deadline: Date.now() })).settle(90);
      await assert.rejects(a.acquire({ requests: 1, tokens: 1 }, { deadline: Date.now() + 10 }), /rate budget exhausted/);
    } finally {
      await a.close();
    }
  });
});
