// The thread that owns this process's SQLite stores. node:sqlite is synchronous: its queries, fsyncs and busy waits (up
// to the busy timeout while another process holds the write lock) block whichever thread runs them. Here that is this
// thread, never the worker's event loop that sends Temporal heartbeats.
import { parentPort } from 'node:worker_threads';
import type { RateBudget, Grant } from '../embedders/rate-budget.ts';
import { ConnectorError } from '../shared/errors.ts';
import type { EmbeddingCache, Ledger } from './ledger.ts';
import type {
  CallMessage,
  CancelMessage,
  ForgetMessage,
  OpenMessage,
  ReplyMessage,
  SerializedError,
  StoreSpec,
} from './sqlite-thread-protocol.ts';

const port = parentPort!;

function serialize(err: unknown): SerializedError {
  if (err instanceof ConnectorError)
    return { name: err.name, message: err.message, type: err.type, retryAfterMs: err.retryAfterMs };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

type Handler = (msg: CallMessage, signal: AbortSignal) => Promise<unknown>;

async function open(spec: StoreSpec): Promise<Handler> {
  if (spec.kind === 'ledger') {
    const { createSqliteLedger } = await import('./sqlite.ts');
    const base: Ledger = createSqliteLedger(spec.config, spec.scope);
    const view = (version: number): Ledger => (version === spec.scope.version ? base : base.forVersion(version));
    return async ({ target, method, args }) => {
      if (method === 'close') return base.close();
      const v = view(target) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      if (typeof v[method] !== 'function' || method === 'forVersion') throw new Error(`ledger has no method ${method}`);
      return v[method]!(...args);
    };
  }
  if (spec.kind === 'cache') {
    const { createSqliteEmbeddingCache } = await import('./embedding-cache-sqlite.ts');
    const cache: EmbeddingCache = createSqliteEmbeddingCache(spec.config);
    return async ({ method, args }) => {
      if (method === 'getMany') return cache.getMany(args[0] as string, args[1] as string[]);
      if (method === 'putMany') return cache.putMany(args[0] as string, args[1] as Array<{ hash: string; vector: Float32Array }>);
      if (method === 'close') return cache.close();
      throw new Error(`embedding cache has no method ${method}`);
    };
  }
  if (spec.kind === 'terms') {
    const { createSqliteTermStats } = await import('../sparse/term-stats.ts');
    const stats = createSqliteTermStats(spec.config) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const methods = new Set(['put', 'remove', 'drop', 'collection', 'documentFrequencies', 'close']);
    return async ({ method, args }) => {
      if (!methods.has(method)) throw new Error(`term statistics have no method ${method}`);
      return stats[method]!(...args);
    };
  }
  const { createSqliteRateBudget } = await import('../embedders/rate-budget-sqlite.ts');
  const budget: RateBudget = createSqliteRateBudget(spec.config as never);
  const grants = new Map<number, Grant>();
  let nextGrant = 1;
  return async ({ target, method, args }, signal) => {
    if (method === 'acquire') {
      const opts = (args[1] ?? {}) as { deadline?: number; leaseMs?: number };
      const grant = await budget.acquire(args[0] as { requests: number; tokens: number }, { ...opts, signal });
      grants.set(nextGrant, grant);
      return nextGrant++;
    }
    if (method === 'settle') {
      const grant = grants.get(target);
      grants.delete(target);
      return grant?.settle(args[0] as number | undefined);
    }
    if (method === 'observe') return budget.observe(args[0] as never);
    if (method === 'close') return budget.close();
    throw new Error(`rate budget has no method ${method}`);
  };
}

// Opening errors (a newer schema, an unwritable folder) are answered to every call, so the caller sees them typed.
type Opened = { handler: Handler } | { error: SerializedError };
const stores = new Map<number, Promise<Opened>>();
const aborts = new Map<number, AbortController>();

port.on('message', (msg: CallMessage | CancelMessage | OpenMessage | ForgetMessage) => {
  if ('cancel' in msg) {
    aborts.get(msg.cancel)?.abort();
    return;
  }
  if ('open' in msg) {
    stores.set(
      msg.open,
      open(msg.spec).then(
        (handler) => ({ handler }),
        (err: unknown) => ({ error: serialize(err) }),
      ),
    );
    return;
  }
  if ('forget' in msg) {
    stores.delete(msg.forget);
    return;
  }
  const abort = new AbortController();
  aborts.set(msg.id, abort);
  const ready = stores.get(msg.store) ?? Promise.resolve<Opened>({ error: { name: 'Error', message: 'store is not open' } });
  void ready
    .then(async (r): Promise<ReplyMessage> => {
      // A store that never opened has nothing to close.
      if ('error' in r)
        return msg.method === 'close' ? { id: msg.id, ok: true, value: undefined } : { id: msg.id, ok: false, error: r.error };
      return { id: msg.id, ok: true, value: await r.handler(msg, abort.signal) };
    })
    .catch((err: unknown): ReplyMessage => ({ id: msg.id, ok: false, error: serialize(err) }))
    .then((reply) => {
      aborts.delete(msg.id);
      port.postMessage(reply);
    });
});
