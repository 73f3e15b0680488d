import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { type BudgetState, createMemoryRateBudget, planAcquire, planObserve } from './rate-budget.ts';

const limits = { requests: 3, tokens: 100, windowMs: 1000 };
const state = (entries: [number, number, number][], blockedUntil = 0): BudgetState => ({
  entries: entries.map(([requests, tokens, until], id) => ({ id, requests, tokens, until })),
  blockedUntil,
});

describe('planAcquire', () => {
  it('grants while both counts fit', () => {
    assert.deepEqual(planAcquire(state([[1, 50, 2000]]), 1000, { requests: 1, tokens: 50 }, limits), { ok: true });
  });

  it('waits for the earliest entries whose expiry makes room, for requests and for tokens', () => {
    const s = state([
      [1, 10, 1500],
      [1, 10, 1200],
      [1, 10, 1800],
    ]);
    assert.deepEqual(planAcquire(s, 1000, { requests: 1, tokens: 1 }, limits), { ok: false, waitMs: 200 });
    const heavy = state([
      [1, 60, 1300],
      [1, 30, 1100],
    ]);
    assert.deepEqual(planAcquire(heavy, 1000, { requests: 1, tokens: 50 }, limits), { ok: false, waitMs: 300 });
  });

  it('holds everything back while a server-imposed block lasts', () => {
    assert.deepEqual(planAcquire(state([], 1700), 1000, { requests: 1, tokens: 1 }, limits), { ok: false, waitMs: 700 });
  });
});

describe('planObserve', () => {
  it('turns Retry-After, or nothing remaining, into a block until the reset', () => {
    assert.equal(planObserve(state([]), 1000, { retryAfterMs: 2000 }, limits).blockUntil, 3000);
    assert.equal(planObserve(state([]), 1000, { remainingRequests: 0, resetRequestsMs: 400 }, limits).blockUntil, 1400);
  });

  it('records capacity someone else used as a phantom entry until the reset', () => {
    const w = planObserve(
      state([[1, 10, 1900]]),
      1000,
      { remainingRequests: 0, resetRequestsMs: 500, remainingTokens: 20, resetTokensMs: 800 },
      limits,
    );
    assert.deepEqual(w.insert, [
      { requests: 2, tokens: 0, until: 1500 },
      { requests: 0, tokens: 70, until: 1800 },
    ]);
  });

  it('ignores a remaining count that agrees with ours', () => {
    assert.deepEqual(
      planObserve(state([[1, 10, 1900]]), 1000, { remainingRequests: 5, resetRequestsMs: 500 }, limits).insert,
      [],
    );
  });
});

describe('memory budget', () => {
  it('never grants more than the window allows, counting until a window after each settle', async () => {
    const budget = createMemoryRateBudget({ requestsPerWindow: 3, windowMs: 200 }, { pollMs: 5 });
    const spans: { granted: number; settled: number }[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const g = await budget.acquire({ requests: 1, tokens: 0 });
        const granted = Date.now();
        await new Promise((r) => setTimeout(r, 10));
        const settled = Date.now();
        await g.settle();
        spans.push({ granted, settled });
      }),
    );
    // Any grant sees at most 2 others whose settle lies less than a window before it (or which are still open).
    for (const s of spans) {
      const counting = spans.filter((o) => o.granted <= s.granted && o.settled + 200 > s.granted).length;
      assert.ok(counting <= 3, `${counting} requests counted at one grant`);
    }
    await budget.close();
  });

  it('throws a retryable RateLimited with the wait rather than wait past the deadline', async () => {
    const budget = createMemoryRateBudget({ requestsPerWindow: 1, windowMs: 60_000 });
    await (await budget.acquire({ requests: 1, tokens: 0 })).settle();
    await assert.rejects(budget.acquire({ requests: 1, tokens: 0 }, { deadline: Date.now() + 1000 }), (e: unknown) => {
      assert.ok(e instanceof ConnectorError && e.type === FailureType.RateLimited && e.retryable);
      assert.ok(e.retryAfterMs! > 59_000 && e.retryAfterMs! <= 60_000);
      return true;
    });
  });

  it('lets one request bigger than the token window through alone rather than never', async () => {
    const budget = createMemoryRateBudget({ tokensPerWindow: 100, windowMs: 60_000 });
    const g = await budget.acquire({ requests: 1, tokens: 5000 }, { deadline: Date.now() });
    await g.settle(5000);
    await assert.rejects(budget.acquire({ requests: 1, tokens: 1 }, { deadline: Date.now() + 10 }), /rate budget exhausted/);
  });
});
