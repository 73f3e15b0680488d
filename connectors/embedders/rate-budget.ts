import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { type RateHints, sleep } from './http-core.ts';
import { metrics, since } from '../shared/metrics.ts';

// A request-and-token budget shared by everything that calls one API with one key. The algorithm is a sliding-window
// log: each request is an entry that counts until `windowMs` after its response arrived (until then it counts for
// as long as it may be in flight), and a new request is granted only while the entries still counting leave room.
// Counting from the response rather than from the grant makes the guarantee hold at the server: a request's arrival
// lies between its grant and its response, so two requests the budget separates by a window reach the server at
// least a window apart, whatever the network delay. A sliding window is at least as strict as the fixed windows and
// token buckets the services document, so staying inside it never trips theirs.
//
// The state lives behind `BudgetStore`, one atomic read-decide-write step per call: in memory for one process,
// SQLite for the worker processes of one host (rate-budget-sqlite.ts), PostgreSQL for a fleet of hosts
// (rate-budget-postgres.ts: one transaction under pg_advisory_xact_lock per step).

export const RateLimitsConfig = z.object({
  /** Requests allowed per window over all workers sharing the budget; unset means unlimited. */
  requestsPerWindow: z.number().int().positive().optional(),
  /** Input tokens allowed per window; unset means unlimited. */
  tokensPerWindow: z.number().int().positive().optional(),
  /** The window: 60 000 for the usual per-minute limits. */
  windowMs: z.number().int().positive().default(60_000),
});
export type RateLimitsConfig = z.input<typeof RateLimitsConfig>;

export interface Limits {
  requests: number;
  tokens: number;
  windowMs: number;
}

export interface BudgetEntry {
  id: number;
  requests: number;
  tokens: number;
  /** Epoch ms at which the entry stops counting. */
  until: number;
}

export interface BudgetState {
  /** Entries still counting (the store prunes the others before calling `decide`). */
  entries: BudgetEntry[];
  /** Epoch ms before which nothing is granted (a server said so); 0 when not blocked. */
  blockedUntil: number;
}

export interface BudgetWrite<T> {
  result: T;
  insert?: Omit<BudgetEntry, 'id'>[];
  blockUntil?: number;
}

/** Storage for one named budget. `update` must run prune + read + decide + write as one exclusive step. */
export interface BudgetStore {
  update<T>(now: number, decide: (state: BudgetState) => BudgetWrite<T>): Promise<{ result: T; ids: number[] }>;
  /** The request finished at `now`: count `tokens` (the server's figure when it gave one) until `until`. */
  settle(id: number, until: number, tokens: number): Promise<void>;
  close(): Promise<void>;
}

export interface Grant {
  /** Call once the response (or the failure) arrived; `tokens` replaces the estimate when the server reported usage. */
  settle(tokens?: number): Promise<void>;
}

export interface AcquireOptions {
  /** Epoch ms: rather than wait past it, throw a retryable RateLimited carrying the wait (Temporal backs off). */
  deadline?: number;
  /** How long the request may take at most (its timeout): bounds how long a crashed worker's grant keeps counting. */
  leaseMs?: number;
  signal?: AbortSignal;
}

export interface RateBudget {
  readonly limits: Limits;
  /** Waits until `requests` and `tokens` fit the window, records them, and returns the grant to settle. */
  acquire(want: { requests: number; tokens: number }, opts?: AcquireOptions): Promise<Grant>;
  /** Feeds a response's rate-limit headers back: Retry-After pauses every sharer; a lower `remaining` shrinks room. */
  observe(hints: RateHints): Promise<void>;
  close(): Promise<void>;
}

export function toLimits(config: RateLimitsConfig = {}): Limits {
  const c = RateLimitsConfig.parse(config);
  return {
    requests: c.requestsPerWindow ?? Number.POSITIVE_INFINITY,
    tokens: c.tokensPerWindow ?? Number.POSITIVE_INFINITY,
    windowMs: c.windowMs,
  };
}

/** Grant now, or the earliest time enough entries may stop counting (or the block lifts). Pure: shared by every store. */
export function planAcquire(
  state: BudgetState,
  now: number,
  want: { requests: number; tokens: number },
  limits: Limits,
): { ok: true } | { ok: false; waitMs: number } {
  if (state.blockedUntil > now) return { ok: false, waitMs: state.blockedUntil - now };
  let requests = 0;
  let tokens = 0;
  for (const e of state.entries) {
    requests += e.requests;
    tokens += e.tokens;
  }
  if (requests + want.requests <= limits.requests && tokens + want.tokens <= limits.tokens) return { ok: true };
  // An entry still in flight counts until its lease ends, but it will most likely settle soon: the wait reported is
  // the earliest possible one (as if every open request settled now), and waiters poll rather than sleep it out.
  const byExpiry = state.entries.map((e) => ({ ...e, until: Math.min(e.until, now + limits.windowMs) }));
  byExpiry.sort((a, b) => a.until - b.until);
  for (const e of byExpiry) {
    requests -= e.requests;
    tokens -= e.tokens;
    if (requests + want.requests <= limits.requests && tokens + want.tokens <= limits.tokens)
      return { ok: false, waitMs: Math.max(1, e.until - now) };
  }
  return { ok: false, waitMs: limits.windowMs };
}

/**
 * What a response's headers change. Retry-After, or nothing remaining, blocks everyone until the reset. A `remaining`
 * below the room we think is left (another client shares the key) becomes a phantom entry for the difference that
 * counts until the server's reset, so we never plan on capacity the server says is gone.
 */
export function planObserve(state: BudgetState, now: number, hints: RateHints, limits: Limits): BudgetWrite<void> {
  const write: BudgetWrite<void> = { result: undefined, insert: [] };
  let block = 0;
  if (hints.retryAfterMs !== undefined && hints.retryAfterMs > 0) block = now + hints.retryAfterMs;
  const used = { requests: 0, tokens: 0 };
  for (const e of state.entries) {
    used.requests += e.requests;
    used.tokens += e.tokens;
  }
  const shrink = (remaining: number | undefined, resetMs: number | undefined, key: 'requests' | 'tokens'): void => {
    if (remaining === undefined || resetMs === undefined) return;
    if (remaining === 0) block = Math.max(block, now + resetMs);
    const room = limits[key] - used[key];
    if (Number.isFinite(room) && remaining < room) {
      write.insert!.push({ requests: 0, tokens: 0, [key]: room - remaining, until: now + resetMs });
    }
  };
  shrink(hints.remainingRequests, hints.resetRequestsMs, 'requests');
  shrink(hints.remainingTokens, hints.resetTokensMs, 'tokens');
  if (block > state.blockedUntil) write.blockUntil = block;
  return write;
}

export interface SlidingWindowOptions {
  /** How often a waiter looks again (other processes' settles shorten waits). Default 100 ms. */
  pollMs?: number;
  /** Default lease when `acquire` is not told the request timeout. Default 120 s. */
  leaseMs?: number;
}

/** The budget over any store. */
export function createSlidingWindowBudget(store: BudgetStore, limits: Limits, opts: SlidingWindowOptions = {}): RateBudget {
  const pollMs = opts.pollMs ?? 100;
  const defaultLease = opts.leaseMs ?? 120_000;
  return {
    limits,
    async acquire(want, o = {}) {
      // A single request larger than the whole token window could never be granted: let it take the whole window.
      const need = { requests: want.requests, tokens: Math.min(want.tokens, limits.tokens) };
      if (need.requests > limits.requests) {
        throw new ConnectorError(FailureType.InvalidInput, `${need.requests} requests exceed the budget of ${limits.requests}`);
      }
      const lease = o.leaseMs ?? defaultLease;
      for (;;) {
        const now = Date.now();
        const { result, ids } = await store.update(now, (state): BudgetWrite<ReturnType<typeof planAcquire>> => {
          const plan = planAcquire(state, now, need, limits);
          return plan.ok ? { result: plan, insert: [{ ...need, until: now + lease + limits.windowMs }] } : { result: plan };
        });
        if (result.ok) {
          const id = ids[0]!;
          let settled = false;
          return {
            settle: async (tokens?: number) => {
              if (settled) return;
              settled = true;
              await store.settle(id, Date.now() + limits.windowMs, tokens ?? need.tokens);
            },
          };
        }
        if (o.deadline !== undefined && now + result.waitMs > o.deadline) {
          throw new ConnectorError(
            FailureType.RateLimited,
            `rate budget exhausted (${limits.requests} requests / ${limits.tokens} tokens per ${limits.windowMs} ms); next slot in ${result.waitMs} ms`,
            { retryAfterMs: result.waitMs },
          );
        }
        const waited = performance.now();
        await sleep(Math.min(result.waitMs, pollMs), o.signal);
        metrics.rateLimitWaitSeconds.inc({ budget: 'shared' }, since(waited));
      }
    },
    async observe(hints) {
      if (Object.keys(hints).length === 0) return;
      const now = Date.now();
      await store.update(now, (state) => planObserve(state, now, hints, limits));
    },
    close: () => store.close(),
  };
}

/** The state in this process's memory: one worker process, or tests. */
export function createMemoryBudgetStore(): BudgetStore {
  let entries: BudgetEntry[] = [];
  let blockedUntil = 0;
  let nextId = 1;
  return {
    async update(now, decide) {
      entries = entries.filter((e) => e.until > now);
      const w = decide({ entries: [...entries], blockedUntil });
      const ids: number[] = [];
      for (const e of w.insert ?? []) {
        ids.push(nextId);
        entries.push({ ...e, id: nextId++ });
      }
      if (w.blockUntil !== undefined) blockedUntil = Math.max(blockedUntil, w.blockUntil);
      return { result: w.result, ids };
    },
    async settle(id, until, tokens) {
      const e = entries.find((x) => x.id === id);
      if (e) {
        e.until = until;
        e.tokens = tokens;
      }
    },
    async close() {},
  };
}

/** A budget for one process. */
export function createMemoryRateBudget(config: RateLimitsConfig = {}, opts: SlidingWindowOptions = {}): RateBudget {
  return createSlidingWindowBudget(createMemoryBudgetStore(), toLimits(config), opts);
}
