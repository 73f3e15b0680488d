import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// An in-process stand-in for one serverless Pinecone index's data plane (API 2026-07, the version
// @pinecone-database/pinecone 9 pins), for tests: Pinecone has no local server. It serves the routes and bodies the SDK's
// generated client sends (dist/pinecone-generated-ts-fetch/db_data/apis/VectorOperationsApi.js) and rejects what the
// service documents it rejects (docs.pinecone.io database limits), with the service's error body `{ code, message,
// details }` (gRPC codes: 3 invalid argument, 8 resource exhausted, 13 internal, 14 unavailable). Where the docs are
// silent it errs strict: "2 MB" is read as 2,000,000 bytes of request body, and list pages hold at most 100 ids.

export const PINECONE_LIMITS = {
  maxUpsertRecords: 1000,
  maxRequestBytes: 2_000_000,
  maxMetadataBytes: 40_960,
  maxIdLength: 512,
  maxTopK: 10_000,
  maxIdsPerRequest: 1000,
  maxResultBytes: 4 * 1024 * 1024,
  maxListPage: 100,
  maxInValues: 10_000,
  /** Non-zero values of one sparse vector (hybrid and sparse indexes). */
  maxSparseValues: 1000,
} as const;

export type PineconeMetric = 'cosine' | 'dotproduct' | 'euclidean';

export interface PineconeServerOptions {
  dimension: number;
  metric?: PineconeMetric;
  apiKey: string;
  /** Writes (upsert, update, delete) become visible to reads this long after they are acknowledged, as in the service. */
  eventualConsistencyMs?: number;
  /** Name served by the control-plane route GET /indexes/{name}. */
  indexName?: string;
}

export interface Fault {
  status: number;
  /** Sent as the Retry-After header when set (seconds, or an HTTP date). */
  retryAfter?: string;
  message?: string;
}

export interface PineconeServerStats {
  /** Requests per route, e.g. `POST /vectors/upsert`, counting rejected and faulted ones. */
  requests: Record<string, number>;
  /** Every accepted upsert request: its record count and body size. */
  upserts: { records: number; bytes: number }[];
  /** Requests answered with 4xx other than by an injected fault. */
  rejected: number;
  apiVersions: string[];
  /** Records now visible, over all namespaces. */
  records: number;
}

export interface PineconeServer {
  url: string;
  close(): Promise<void>;
  stats(): PineconeServerStats;
  /** The next `count` requests that pass authentication are answered with `fault` instead of being served. */
  failNext(count: number, fault: Fault): void;
}

type Meta = Record<string, string | number | boolean | string[]>;
interface Sparse {
  indices: number[];
  values: number[];
}
interface Rec {
  values: Float32Array;
  metadata: Meta | undefined;
  /** Sparse values, on a dotproduct index only (a hybrid index: dense and sparse in one record). */
  sparse?: Sparse;
}
type Store = Map<string, Map<string, Rec>>;

const DEFAULT_NS = '__default__';
const GRPC = { invalid: 3, notFound: 5, exhausted: 8, internal: 13, unavailable: 14 } as const;

class Reject extends Error {
  readonly status: number;
  readonly code: number;
  constructor(message: string, status = 400, code: number = GRPC.invalid) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nsOf = (v: unknown): string => {
  if (v === undefined || v === null || v === '') return DEFAULT_NS;
  if (typeof v !== 'string') throw new Reject('namespace must be a string');
  return v;
};

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new Reject(`${what}: id must be a non-empty string`);
  if ([...id].length > PINECONE_LIMITS.maxIdLength) {
    throw new Reject(`${what}: id length ${[...id].length} exceeds the maximum of ${PINECONE_LIMITS.maxIdLength} characters`);
  }
  if (id.includes('\0')) throw new Reject(`${what}: id must not contain the NUL character`);
  return id;
}

function checkValues(values: unknown, dimension: number, what: string, query = false): Float32Array {
  if (!Array.isArray(values)) throw new Reject(`${what}: values must be a list of numbers`);
  for (let i = 0; i < values.length; i++) {
    // JSON has no NaN or Infinity: JSON.stringify (and so the SDK) sends them as null, which lands here.
    const x: unknown = values[i];
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw new Reject(`${what}: values[${i}] is ${JSON.stringify(x)}, not a finite number`);
  }
  if (values.length !== dimension) {
    const prefix = query ? 'Query vector' : 'Vector';
    throw new Reject(`${prefix} dimension ${values.length} does not match the dimension of the index ${dimension}`);
  }
  const v = Float32Array.from(values as number[]);
  if (!query && v.every((x) => x === 0)) throw new Reject(`${what}: Dense vectors must contain at least one non-zero value`);
  return v;
}

/** Sparse values as the service takes them: uint32 indices, each once, float values, at most 1,000 of them. */
function checkSparse(s: unknown, metric: PineconeMetric, what: string): Sparse {
  if (metric !== 'dotproduct')
    throw new Reject(`${what}: sparse values are supported only for indexes with the dotproduct metric`);
  if (!isObject(s) || !Array.isArray(s.indices) || !Array.isArray(s.values))
    throw new Reject(`${what}: sparse values must be an object with lists indices and values`);
  const { indices, values } = s as { indices: unknown[]; values: unknown[] };
  if (indices.length !== values.length)
    throw new Reject(`${what}: sparse indices and values differ in length (${indices.length} and ${values.length})`);
  if (indices.length === 0) throw new Reject(`${what}: a sparse vector must contain at least one value`);
  if (indices.length > PINECONE_LIMITS.maxSparseValues) {
    throw new Reject(
      `${what}: sparse vector has ${indices.length} non-zero values, over the maximum of ${PINECONE_LIMITS.maxSparseValues}`,
    );
  }
  const seen = new Set<number>();
  indices.forEach((i, n) => {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i > 0xffffffff)
      throw new Reject(`${what}: sparse indices[${n}] is ${JSON.stringify(i)}, not an unsigned 32-bit integer`);
    if (seen.has(i)) throw new Reject(`${what}: sparse index ${i} appears more than once`);
    seen.add(i);
  });
  values.forEach((x, n) => {
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw new Reject(`${what}: sparse values[${n}] is ${JSON.stringify(x)}, not a finite number`);
  });
  // Float32 as the service stores them.
  return { indices: indices as number[], values: Array.from(Float32Array.from(values as number[])) };
}

function sparseDot(q: Sparse | undefined, r: Sparse | undefined): number {
  if (!q || !r) return 0;
  const at = new Map<number, number>();
  r.indices.forEach((i, n) => at.set(i, r.values[n]!));
  let s = 0;
  q.indices.forEach((i, n) => (s += q.values[n]! * (at.get(i) ?? 0)));
  return s;
}

function checkMetadata(m: unknown, what: string): Meta | undefined {
  if (m === undefined) return undefined;
  if (!isObject(m)) throw new Reject(`${what}: metadata must be a JSON object`);
  for (const [k, v] of Object.entries(m)) {
    if (v === null)
      throw new Reject(`${what}: metadata field '${k}' is null; null metadata values are not supported, omit the field`);
    const ok =
      typeof v === 'string' ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v)) ||
      (Array.isArray(v) && v.every((e) => typeof e === 'string'));
    if (!ok) {
      throw new Reject(
        `${what}: metadata field '${k}' must be a string, number, boolean or list of strings, got ${JSON.stringify(v)}`,
      );
    }
  }
  const size = bytes(JSON.stringify(m));
  if (size > PINECONE_LIMITS.maxMetadataBytes) {
    throw new Reject(
      `Metadata size is ${size} bytes, which exceeds the limit of ${PINECONE_LIMITS.maxMetadataBytes} bytes per vector`,
    );
  }
  return m as Meta;
}

type Pred = (m: Meta | undefined) => boolean;
type Scalar = string | number | boolean;
const isScalar = (v: unknown): v is Scalar =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function fieldPred(field: string, op: string, arg: unknown): Pred {
  const get = (m: Meta | undefined) => m?.[field];
  const has = (fv: unknown, x: unknown) => (Array.isArray(fv) ? fv.includes(x as string) : fv === x);
  switch (op) {
    case '$eq':
    case '$ne': {
      if (!isScalar(arg)) throw new Reject(`filter: ${op} on '${field}' takes a string, number or boolean`);
      return op === '$eq' ? (m) => has(get(m), arg) : (m) => !has(get(m), arg);
    }
    case '$in':
    case '$nin': {
      if (!Array.isArray(arg) || arg.length === 0 || !arg.every(isScalar)) {
        throw new Reject(`filter: ${op} on '${field}' takes a non-empty list of strings, numbers or booleans`);
      }
      if (arg.length > PINECONE_LIMITS.maxInValues)
        throw new Reject(`filter: ${op} takes at most ${PINECONE_LIMITS.maxInValues} values`);
      const any = (m: Meta | undefined) => arg.some((x) => has(get(m), x));
      return op === '$in' ? any : (m) => !any(m);
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      if (typeof arg !== 'number' || !Number.isFinite(arg)) throw new Reject(`filter: ${op} on '${field}' takes a number`);
      const cmp = {
        $gt: (a: number) => a > arg,
        $gte: (a: number) => a >= arg,
        $lt: (a: number) => a < arg,
        $lte: (a: number) => a <= arg,
      }[op];
      return (m) => {
        const fv = get(m);
        return typeof fv === 'number' && cmp(fv);
      };
    }
    case '$exists': {
      if (typeof arg !== 'boolean') throw new Reject(`filter: $exists on '${field}' takes a boolean`);
      return (m) => (get(m) !== undefined) === arg;
    }
    default:
      throw new Reject(`filter: unsupported operator ${op}`);
  }
}

/** Compiles a Pinecone metadata filter, rejecting what the service rejects. */
export function compileFilter(f: unknown): Pred {
  if (!isObject(f)) throw new Reject('filter must be a JSON object');
  const preds: Pred[] = [];
  for (const [key, val] of Object.entries(f)) {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(val) || val.length === 0) throw new Reject(`filter: ${key} takes a non-empty list of filters`);
      const subs = val.map(compileFilter);
      preds.push(key === '$and' ? (m) => subs.every((p) => p(m)) : (m) => subs.some((p) => p(m)));
    } else if (key.startsWith('$')) {
      throw new Reject(`filter: unsupported operator ${key}`);
    } else if (isObject(val)) {
      const ops = Object.entries(val);
      if (ops.length === 0) throw new Reject(`filter: the condition on '${key}' is empty`);
      for (const [op, arg] of ops) preds.push(fieldPred(key, op, arg));
    } else {
      preds.push(fieldPred(key, '$eq', val));
    }
  }
  return (m) => preds.every((p) => p(m));
}

function score(metric: PineconeMetric, a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let d2 = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
    d2 += (x - y) * (x - y);
  }
  // Pinecone's scores: cosine similarity, the dot product, or the squared euclidean distance (lower is nearer).
  if (metric === 'dotproduct') return dot;
  if (metric === 'euclidean') return d2;
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function compareIds(a: string, b: string): number {
  // The service lists ids in bitwise ("C") order of their UTF-8 bytes, which is code point order.
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new Reject(`failed to parse the request body as JSON: ${(err as Error).message}`);
  }
  if (!isObject(v)) throw new Reject('the request body must be a JSON object');
  return v;
}

export async function startPineconeServer(opts: PineconeServerOptions): Promise<PineconeServer> {
  const { dimension, apiKey } = opts;
  const metric = opts.metric ?? 'cosine';
  const delay = opts.eventualConsistencyMs ?? 0;
  const indexName = opts.indexName ?? 'contract-index';
  const store: Store = new Map();
  const pending: { at: number; apply: () => void }[] = [];
  const faults: Fault[] = [];
  const stats = { requests: {} as Record<string, number>, upserts: [] as { records: number; bytes: number }[], rejected: 0 };
  const apiVersions = new Set<string>();

  /** Applies the writes whose time has come, in the order they were acknowledged. */
  const settle = () => {
    const now = Date.now();
    while (pending.length > 0 && pending[0]!.at <= now) pending.shift()!.apply();
  };
  const write = (apply: () => void) => {
    if (delay <= 0) apply();
    else pending.push({ at: Date.now() + delay, apply });
  };
  const space = (ns: string) => {
    let m = store.get(ns);
    if (!m) store.set(ns, (m = new Map()));
    return m;
  };
  const view = (ns: string): Map<string, Rec> => store.get(ns) ?? new Map();
  const dropEmpty = (ns: string) => {
    if (store.get(ns)?.size === 0) store.delete(ns);
  };
  const checkIds = (ids: unknown, what: string): string[] => {
    if (!Array.isArray(ids) || ids.length === 0) throw new Reject(`${what}: ids must be a non-empty list`);
    if (ids.length > PINECONE_LIMITS.maxIdsPerRequest) {
      throw new Reject(`${what}: ${ids.length} ids exceed the maximum of ${PINECONE_LIMITS.maxIdsPerRequest} per request`);
    }
    return ids.map((id) => checkId(id, what));
  };

  const routes: Record<string, (q: URLSearchParams, raw: Buffer) => unknown> = {
    'POST /vectors/upsert': (_q, raw) => {
      if (raw.length > PINECONE_LIMITS.maxRequestBytes) {
        throw new Reject(`Request size ${Math.ceil(raw.length / 1e6)}MB exceeds the maximum supported size of 2MB`);
      }
      const body = parseJson(raw);
      const vectors = body.vectors;
      if (!Array.isArray(vectors) || vectors.length === 0) throw new Reject('upsert: vectors must be a non-empty list');
      if (vectors.length > PINECONE_LIMITS.maxUpsertRecords) {
        throw new Reject(
          `upsert: batch of ${vectors.length} records exceeds the maximum of ${PINECONE_LIMITS.maxUpsertRecords} per request`,
        );
      }
      const ns = nsOf(body.namespace);
      const recs = vectors.map((v: unknown, i) => {
        if (!isObject(v)) throw new Reject(`upsert: vectors[${i}] must be an object`);
        const id = checkId(v.id, `upsert vectors[${i}]`);
        const rec: Rec = {
          values: checkValues(v.values, dimension, `upsert ${id}`),
          metadata: checkMetadata(v.metadata, `upsert ${id}`),
        };
        if (v.sparseValues !== undefined) rec.sparse = checkSparse(v.sparseValues, metric, `upsert ${id}`);
        return [id, rec] as const;
      });
      stats.upserts.push({ records: recs.length, bytes: raw.length });
      write(() => {
        const m = space(ns);
        for (const [id, rec] of recs) m.set(id, rec);
      });
      return { upsertedCount: recs.length };
    },

    'POST /query': (_q, raw) => {
      const body = parseJson(raw);
      const topK = body.topK;
      if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > PINECONE_LIMITS.maxTopK) {
        throw new Reject(`topK must be an integer from 1 to ${PINECONE_LIMITS.maxTopK}, got ${JSON.stringify(topK)}`);
      }
      if ((body.vector === undefined) === (body.id === undefined)) throw new Reject('query: give exactly one of vector and id');
      const sparse = body.sparseVector === undefined ? undefined : checkSparse(body.sparseVector, metric, 'query');
      if (sparse && body.id !== undefined) throw new Reject('query: a sparse vector goes with a dense vector, not with an id');
      const pred = body.filter === undefined ? () => true : compileFilter(body.filter);
      const ns = nsOf(body.namespace);
      settle();
      const recs = view(ns);
      const q =
        body.id !== undefined ? recs.get(checkId(body.id, 'query'))?.values : checkValues(body.vector, dimension, 'query', true);
      const hits =
        q === undefined
          ? []
          : [...recs]
              .filter(([, r]) => pred(r.metadata))
              // A hybrid query's score is the dot product of the whole sparse-dense vector: dense part plus sparse part.
              .map(([id, r]) => ({ id, r, s: score(metric, q, r.values) + sparseDot(sparse, r.sparse) }));
      hits.sort((a, b) => (metric === 'euclidean' ? a.s - b.s : b.s - a.s) || compareIds(a.id, b.id));
      const matches = hits.slice(0, topK).map(({ id, r, s }) => ({
        id,
        score: s,
        values: body.includeValues === true ? Array.from(r.values) : [],
        ...(body.includeValues === true && r.sparse ? { sparseValues: r.sparse } : {}),
        ...(body.includeMetadata === true && r.metadata ? { metadata: r.metadata } : {}),
      }));
      const res = { results: [], matches, namespace: ns === DEFAULT_NS ? '' : ns, usage: { readUnits: 1 } };
      if (bytes(JSON.stringify(res)) > PINECONE_LIMITS.maxResultBytes) {
        throw new Reject('query result size exceeds the 4MB limit: lower topK or leave out values or metadata');
      }
      return res;
    },

    'POST /vectors/delete': (_q, raw) => {
      const body = parseJson(raw);
      const ns = nsOf(body.namespace);
      const given = ['ids', 'deleteAll', 'filter'].filter((k) => body[k] !== undefined && body[k] !== false);
      if (given.length !== 1) throw new Reject('delete: give exactly one of ids, deleteAll and filter');
      if (body.ids !== undefined) {
        const ids = checkIds(body.ids, 'delete');
        write(() => {
          for (const id of ids) store.get(ns)?.delete(id);
          dropEmpty(ns);
        });
      } else if (body.deleteAll !== undefined) {
        if (body.deleteAll !== true) throw new Reject('delete: deleteAll must be true');
        write(() => store.delete(ns));
      } else {
        const pred = compileFilter(body.filter);
        write(() => {
          const m = store.get(ns);
          for (const [id, r] of m ?? []) if (pred(r.metadata)) m!.delete(id);
          dropEmpty(ns);
        });
      }
      return {};
    },

    'POST /describe_index_stats': (_q, raw) => {
      const body = parseJson(raw);
      if (body.filter !== undefined)
        throw new Reject('Serverless indexes do not support describe_index_stats with a metadata filter');
      settle();
      const namespaces: Record<string, { vectorCount: number }> = {};
      let total = 0;
      for (const [ns, m] of store) {
        namespaces[ns] = { vectorCount: m.size };
        total += m.size;
      }
      return { namespaces, dimension, indexFullness: 0, totalVectorCount: total, metric, vectorType: 'dense' };
    },

    'GET /vectors/list': (q) => {
      const ns = nsOf(q.get('namespace'));
      const prefix = q.get('prefix') ?? '';
      const limitArg = q.get('limit');
      const limit = limitArg === null ? PINECONE_LIMITS.maxListPage : Number(limitArg);
      if (!Number.isInteger(limit) || limit < 1) throw new Reject(`list: limit must be a positive integer, got ${limitArg}`);
      let after: string | undefined;
      const token = q.get('paginationToken');
      if (token) {
        try {
          const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { skip_past?: unknown; prefix?: unknown };
          if (typeof t.skip_past !== 'string' || t.prefix !== prefix) throw new Error('mismatch');
          after = t.skip_past;
        } catch {
          throw new Reject('list: invalid pagination token');
        }
      }
      settle();
      const ids = [...view(ns).keys()]
        .filter((id) => id.startsWith(prefix) && (after === undefined || compareIds(id, after) > 0))
        .sort(compareIds);
      const page = ids.slice(0, Math.min(limit, PINECONE_LIMITS.maxListPage));
      const more = ids.length > page.length;
      const next = more ? Buffer.from(JSON.stringify({ skip_past: page.at(-1), prefix })).toString('base64') : undefined;
      return {
        vectors: page.map((id) => ({ id })),
        ...(next ? { pagination: { next } } : {}),
        namespace: ns === DEFAULT_NS ? '' : ns,
        usage: { readUnits: 1 },
      };
    },

    'GET /vectors/fetch': (q) => {
      const ids = checkIds(q.getAll('ids'), 'fetch');
      const ns = nsOf(q.get('namespace'));
      settle();
      const recs = view(ns);
      const vectors: Record<string, unknown> = {};
      for (const id of ids) {
        const r = recs.get(id);
        if (r) {
          vectors[id] = {
            id,
            values: Array.from(r.values),
            ...(r.sparse ? { sparseValues: r.sparse } : {}),
            ...(r.metadata ? { metadata: r.metadata } : {}),
          };
        }
      }
      return { vectors, namespace: ns === DEFAULT_NS ? '' : ns, usage: { readUnits: 1 } };
    },

    'POST /vectors/update': (_q, raw) => {
      const body = parseJson(raw);
      const ns = nsOf(body.namespace);
      const set = checkMetadata(body.setMetadata, 'update');
      if ((body.id === undefined) === (body.filter === undefined)) throw new Reject('update: give exactly one of id and filter');
      const merge = (r: Rec, values?: Float32Array): Rec => {
        const metadata = set ? { ...r.metadata, ...set } : r.metadata;
        checkMetadata(metadata, 'update');
        return { ...r, values: values ?? r.values, metadata };
      };
      if (body.id !== undefined) {
        const id = checkId(body.id, 'update');
        const values = body.values === undefined ? undefined : checkValues(body.values, dimension, `update ${id}`);
        // Checked now against the visible record, so an oversized merge is refused rather than dropped later.
        settle();
        const cur = store.get(ns)?.get(id);
        if (cur) merge(cur, values);
        write(() => {
          const r = store.get(ns)?.get(id);
          if (r) store.get(ns)!.set(id, merge(r, values));
        });
        return {};
      }
      if (body.values !== undefined) throw new Reject('update: an update by filter can only set metadata');
      const pred = compileFilter(body.filter);
      settle();
      const matched = [...view(ns)].filter(([, r]) => pred(r.metadata));
      for (const [, r] of matched) merge(r);
      if (body.dryRun !== true) {
        write(() => {
          const m = store.get(ns);
          for (const [id, r] of m ?? []) if (pred(r.metadata)) m!.set(id, merge(r));
        });
      }
      return { matchedRecords: matched.length };
    },
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
    res.end(text);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = `${req.method} ${url.pathname}`;
      const raw = await readBody(req);
      if (route.startsWith('GET /indexes/'))
        stats.requests['GET /indexes/{name}'] = (stats.requests['GET /indexes/{name}'] ?? 0) + 1;
      else stats.requests[route] = (stats.requests[route] ?? 0) + 1;
      // The service answers a missing or wrong key with a plain-text 401 (the SDK's own error parser expects that).
      if (req.headers['api-key'] !== apiKey) return send(res, 401, 'Invalid API Key');
      const version = req.headers['x-pinecone-api-version'];
      if (typeof version === 'string') {
        if (!/^\d{4}-\d{2}$/.test(version))
          return send(res, 400, { code: GRPC.invalid, message: `Unknown API version ${version}`, details: [] });
        apiVersions.add(version);
      }
      const fault = faults.shift();
      if (fault) {
        const code = fault.status === 429 ? GRPC.exhausted : fault.status === 503 ? GRPC.unavailable : GRPC.internal;
        const message =
          fault.message ??
          (fault.status === 429 ? 'Too many requests: rate limit exceeded for this namespace' : 'Service unavailable');
        return send(
          res,
          fault.status,
          { code, message, details: [] },
          fault.retryAfter ? { 'retry-after': fault.retryAfter } : {},
        );
      }
      if (route.startsWith('GET /indexes/')) {
        const name = decodeURIComponent(url.pathname.slice('/indexes/'.length));
        if (name !== indexName)
          return send(res, 404, { error: { code: 'NOT_FOUND', message: `Resource ${name} not found` }, status: 404 });
        const host = `http://${req.headers.host ?? '127.0.0.1'}`;
        return send(res, 200, {
          name,
          host,
          status: { ready: true, state: 'Ready' },
          deployment: { deployment_type: 'managed', cloud: 'aws', region: 'us-east-1' },
          schema: { fields: { _values: { type: 'dense_vector', dimension, metric } } },
          deletion_protection: 'disabled',
        });
      }
      const handler = routes[route];
      if (!handler) return send(res, 404, { code: GRPC.notFound, message: `no route ${route}`, details: [] });
      try {
        send(res, 200, handler(url.searchParams, raw));
      } catch (err) {
        if (!(err instanceof Reject)) throw err;
        stats.rejected++;
        send(res, err.status, { code: err.code, message: err.message, details: [] });
      }
    })().catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { code: GRPC.internal, message: String(err), details: [] });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    stats: () => {
      settle();
      let records = 0;
      for (const m of store.values()) records += m.size;
      return {
        requests: { ...stats.requests },
        upserts: [...stats.upserts],
        rejected: stats.rejected,
        apiVersions: [...apiVersions],
        records,
      };
    },
    failNext(count: number, fault: Fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
  };
}
