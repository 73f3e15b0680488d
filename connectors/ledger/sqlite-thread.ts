import { Worker } from 'node:worker_threads';
import { toLimits, type AcquireOptions, type Grant, type RateBudget } from '../embedders/rate-budget.ts';
import type { SqliteRateBudgetConfig } from '../embedders/rate-budget-sqlite.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { EmbeddingCache, Ledger, LedgerScope } from './ledger.ts';
import type { TermStats } from '../sparse/term-stats.ts';
import type {
  CallMessage,
  CancelMessage,
  ForgetMessage,
  OpenMessage,
  ReplyMessage,
  SerializedError,
  StoreSpec,
} from './sqlite-thread-protocol.ts';

const WORKER_URL = new URL('./sqlite-thread-worker.ts', import.meta.url);

function revive(e: SerializedError): Error {
  if (e.type) return new ConnectorError(e.type as FailureType, e.message, { retryAfterMs: e.retryAfterMs });
  return Object.assign(new Error(e.message), { name: e.name });
}

/**
 * How big the SQLite thread's own heap may grow. It holds rows on their way to the caller (a ledger page, a batch of
 * vectors), never a document: a small heap keeps its resident memory small (a thread costs its own V8 isolate).
 */
const THREAD_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 4 } as const;

/**
 * The one thread that owns every SQLite store of this process (ledger, embedding cache, rate budget): each thread is a
 * V8 isolate of its own (about 35 MB resident), so the stores share one. Calls are messages, answered in any order.
 * The thread is referenced only while calls are pending, so idle stores never keep a process alive. A thread that dies
 * (it should not) fails its pending calls as Unavailable, and the next call starts a new one that reopens every store.
 */
class StoreHost {
  private thread: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; what: string }>();
  private readonly stores = new Map<number, StoreSpec>();
  private nextId = 1;
  private nextStore = 1;

  private start(): Worker {
    const thread = new Worker(WORKER_URL, { name: 'ragline sqlite', resourceLimits: THREAD_HEAP });
    thread.unref();
    for (const [open, spec] of this.stores) thread.postMessage({ open, spec } satisfies OpenMessage);
    thread.on('message', (reply: ReplyMessage) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) thread.unref();
      if (reply.ok) p.resolve(reply.value);
      else p.reject(revive(reply.error));
    });
    const fail = (why: string) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      for (const p of this.pending.values()) {
        p.reject(new ConnectorError(FailureType.Unavailable, `${p.what}: its SQLite thread ${why}`));
      }
      this.pending.clear();
    };
    thread.on('error', (err) => fail(`failed: ${err.message}`));
    thread.on('exit', (code) => fail(`exited with code ${code}`));
    return thread;
  }

  open(spec: StoreSpec): number {
    const store = this.nextStore++;
    this.stores.set(store, spec);
    this.thread?.postMessage({ open: store, spec } satisfies OpenMessage);
    return store;
  }

  call(store: number, what: string, target: number, method: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    const thread = (this.thread ??= this.start());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, what });
      thread.ref();
      if (signal) {
        const onAbort = () => thread.postMessage({ cancel: id } satisfies CancelMessage);
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      thread.postMessage({ id, store, target, method, args } satisfies CallMessage);
    });
  }

  /** Forgets a closed store; the thread ends with the last one. */
  async forget(store: number): Promise<void> {
    this.stores.delete(store);
    this.thread?.postMessage({ forget: store } satisfies ForgetMessage);
    if (this.stores.size === 0 && this.thread) {
      const thread = this.thread;
      this.thread = undefined;
      await thread.terminate();
    }
  }
}

let host: StoreHost | undefined;

/** One store on the shared thread. */
class StoreThread {
  private readonly store: number;
  private closed = false;
  private readonly what: string;

  constructor(spec: StoreSpec, what: string) {
    this.store = (host ??= new StoreHost()).open(spec);
    this.what = what;
  }

  call(target: number, method: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(new ConnectorError(FailureType.InvalidInput, `${method}: ${this.what} is closed`));
    }
    return host!.call(this.store, this.what, target, method, args, signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.call(0, 'close', []);
    } finally {
      this.closed = true;
      await host!.forget(this.store);
    }
  }
}

/**
 * The SQLite ledger, run on its own thread: the same store as createSqliteLedger (same file, same rows), whose
 * synchronous queries and lock waits never block the caller's event loop.
 */
export function createThreadedSqliteLedger(config: { path: string; busyTimeoutMs?: number }, scope: LedgerScope): Ledger {
  const thread = new StoreThread({ kind: 'ledger', config, scope }, `ledger ${config.path}`);
  const views = new Map<number, Ledger>();
  const view = (version: number): Ledger => {
    let v = views.get(version);
    if (v) return v;
    const call = <T>(method: string, ...args: unknown[]) => thread.call(version, method, args) as Promise<T>;
    v = {
      scope: { pipeline: scope.pipeline, version },
      forVersion: view,
      get: (tenant, sourceUri) => call('get', tenant, sourceUri),
      put: (record) => call('put', record),
      setSinkState: (tenant, sourceUri, sink, state) => call('setSinkState', tenant, sourceUri, sink, state),
      list: (query) => call('list', query),
      counts: (tenant) => call('counts', tenant),
      totals: (pipelineVersion, tenant) => call('totals', pipelineVersion, tenant),
      deleteTenant: (tenant) => call('deleteTenant', tenant),
      listIndexVersions: (alias) => call('listIndexVersions', alias),
      putIndexVersion: (record) => call('putIndexVersion', record),
      // A view closes nothing; the ledger opened here closes the thread.
      close: version === scope.version ? () => thread.close() : async () => {},
    };
    views.set(version, v);
    return v;
  };
  return view(scope.version);
}

/** The SQLite embedding cache on its own thread (vectors cross as Float32Array copies). */
export function createThreadedSqliteEmbeddingCache(config: { path: string; busyTimeoutMs?: number }): EmbeddingCache {
  const thread = new StoreThread({ kind: 'cache', config }, `embedding cache ${config.path}`);
  let hits = 0;
  let misses = 0;
  return {
    async getMany(identity, hashes) {
      const found = (await thread.call(0, 'getMany', [identity, hashes])) as Array<Float32Array | undefined>;
      for (const v of found) {
        if (v === undefined) misses++;
        else hits++;
      }
      return found;
    },
    async putMany(identity, entries) {
      if (entries.length > 0) await thread.call(0, 'putMany', [identity, entries]);
    },
    stats: () => ({ hits, misses }),
    close: () => thread.close(),
  };
}

/** BM25 term statistics (Pinecone hybrid) in SQLite on their own thread: lock waits never stall heartbeats. */
export function createThreadedSqliteTermStats(config: { path: string; busyTimeoutMs?: number }): TermStats {
  const thread = new StoreThread({ kind: 'terms', config }, `term statistics ${config.path}`);
  const call = (method: string, args: unknown[]) => thread.call(0, method, args);
  return {
    put: async (index, tenant, chunks) => void (chunks.length > 0 && (await call('put', [index, tenant, chunks]))),
    remove: async (index, ids) => void (ids.length > 0 && (await call('remove', [index, ids]))),
    drop: async (index) => void (await call('drop', [index])),
    collection: async (index, tenant) => (await call('collection', [index, tenant])) as { chunks: number; avgLength: number },
    documentFrequencies: async (index, tenant, terms) =>
      (await call('documentFrequencies', [index, tenant, terms])) as Map<string, number>,
    close: () => thread.close(),
  };
}

/** The host-wide SQLite rate budget on its own thread; a caller's abort signal cancels its wait there. */
export function createThreadedSqliteRateBudget(config: SqliteRateBudgetConfig): RateBudget {
  const thread = new StoreThread({ kind: 'budget', config: { ...config } }, `rate budget ${config.path}`);
  return {
    limits: toLimits(config),
    async acquire(want, opts: AcquireOptions = {}): Promise<Grant> {
      const { signal, ...rest } = opts;
      const id = (await thread.call(0, 'acquire', [want, rest], signal)) as number;
      return { settle: async (tokens?: number) => void (await thread.call(id, 'settle', [tokens])) };
    },
    async observe(hints) {
      await thread.call(0, 'observe', [hints]);
    },
    close: () => thread.close(),
  };
}
