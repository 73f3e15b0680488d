import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { RateBudget } from '../../connectors/embedders/rate-budget.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';

/** Opens one handle on the store under test: handles naming the same budget stand for separate processes or hosts. */
export type OpenBudget = (c: { name: string; requestsPerWindow?: number; tokensPerWindow?: number }) => RateBudget;

/** A typed, retryable rate-limit error advising a wait of more than `atLeastMs`. */
export const rejectsRateLimited = (atLeastMs: number) => (e: unknown) => {
  assert.ok(e instanceof ConnectorError && e.type === FailureType.RateLimited && e.retryable, String(e));
  assert.ok(e.retryAfterMs! > atLeastMs, `retryAfterMs ${e.retryAfterMs}`);
  return true;
};

/**
 * The cases every shared budget store passes (SQLite for one host, PostgreSQL for a fleet). Budgets use a 60 s window.
 * Call inside a describe; `name` prefixes the budget names so suites sharing one database do not meet.
 */
export function rateBudgetContract(open: OpenBudget, name = ''): void {
  it('is one budget for every handle, and separate per name', async () => {
    const [a, b, other] = [
      open({ name: `${name}api`, requestsPerWindow: 2 }),
      open({ name: `${name}api`, requestsPerWindow: 2 }),
      open({ name: `${name}other`, requestsPerWindow: 2 }),
    ];
    try {
      const [ga, gb] = await Promise.all([a.acquire({ requests: 1, tokens: 0 }), b.acquire({ requests: 1, tokens: 0 })]);
      await Promise.all([ga.settle(), gb.settle()]);
      await assert.rejects(a.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 50 }), rejectsRateLimited(59_000));
      await assert.rejects(b.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 50 }), rejectsRateLimited(59_000));
      await (await other.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() })).settle();
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });

  it('shares a Retry-After block with every handle', async () => {
    const [a, b] = [open({ name: `${name}block` }), open({ name: `${name}block` })];
    try {
      await a.observe({ retryAfterMs: 30_000 });
      await assert.rejects(b.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 100 }), rejectsRateLimited(29_000));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('counts the tokens the server reported instead of the estimate', async () => {
    const a = open({ name: `${name}tokens`, tokensPerWindow: 100 });
    try {
      const g = await a.acquire({ requests: 1, tokens: 90 });
      await g.settle(10);
      await (await a.acquire({ requests: 1, tokens: 90 }, { deadline: Date.now() })).settle(90);
      await assert.rejects(a.acquire({ requests: 1, tokens: 1 }, { deadline: Date.now() + 10 }), /rate budget exhausted/);
    } finally {
      await a.close();
    }
  });
}
