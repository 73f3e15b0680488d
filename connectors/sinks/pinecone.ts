import { createHash } from 'node:crypto';
import { Errors, Pinecone, type Index, type RecordMetadata } from '@pinecone-database/pinecone';
import { PineconeSinkConfig } from './pinecone.config.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { ChunkMetadata, ChunkPage, HybridQuery, IndexSpec, ScannedChunk, SearchHit, Sink, SinkRecord } from './sink.ts';
import { checkVector as checkFinite, fromStored, invalid, toStored, checkScanOptions, checkHybridQuery } from './records.ts';
import { shortFloat32s } from './pinecone-floats.ts';
import { analyze, bm25DocumentWeights, bm25QueryWeights, fusedScores, toSparse, type SparseVector } from '../sparse/bm25.ts';
import type { ChunkTerms, TermStats } from '../sparse/term-stats.ts';

// Layout. A Pinecone index has one dimension and one metric, fixed when it is created (control plane, out of scope
// here), so every IndexSpec lives inside one configured index: ensureIndex creates nothing, it checks the spec against
// the index. Each (index name, tenant) pair is its own namespace, `${namespacePrefix}${index}.${tenant}`, both parts
// URI-encoded with '.' escaped too, so the one bare '.' is the separator. Namespaces keep tenants apart physically and
// make a per-tenant count one stats lookup; a search without a tenant asks every namespace of the index and merges.
//
// Record ids are `${docKey}#${chunkId}`, docKey being 32 hex digits of sha256(sourceUri). A document's chunks are then
// exactly the ids listed under the prefix `${docKey}#` in its tenant's namespace: cheap, exact and paginated, where a
// query by metadata filter is approximate and capped by topK. Callers only ever see plain chunk ids (hits,
// idsOfDocument). deleteIds gets chunk ids alone; since the pipeline derives a chunk id from (tenant, sourceUri, ...)
// (pipeline/ids.ts), chunk id -> (tenant, docKey) never changes, so it is learnt from every upsert and listing and kept
// in a bounded memo. Ids the memo lacks are deleted by the metadata filter `chunk_id $in [...]` in each namespace of the
// index: correct, but one request per tenant.
//
// Text is metadata `text`. Metadata is capped at 40 KB per record: a text that would pass it is cut at a character
// boundary and ends with TRUNCATION_MARKER, `text_length` keeps the full length (UTF-16 units), and `start`/`end` still
// locate the whole chunk in its source. The vector was computed from the full text, so the chunk is still found.
// Rejecting instead would fail the whole document for one oversized chunk. The other fields, `heading_path`
// included, are never cut: a record whose metadata passes the cap without its text is refused as InvalidInput.
//
// Index versions: Pinecone has no aliases, so the sink keeps a registry, the reserved namespace
// `${namespacePrefix}.registry` (an (index, tenant) namespace never has '.' right after the prefix, as index names are
// non-empty and encoded). It holds one record per index that ensureIndex made (`index:<name>`), so an index that is
// still empty exists too, and one per alias (`alias:<name>`, metadata `index`: its target). Registry records carry a
// fixed unit vector, as a dense vector cannot be all zeros. Moving an alias is one upsert of its record, so a reader
// resolves the old index or the new one, never neither; reads of the registry are eventually consistent like any
// other (a getAlias right after setAlias may still answer the old index for a moment).
//
// Scans (scanChunks) list the tenant's namespace in id order, the cursor being the list's pagination token (a position
// in that order, so writes and deletes during a scan move nothing and deletedSince is not needed). A listed id names its
// document only by docKey: the source uri of a docKey is learnt by fetching one record of it (its metadata), and kept
// in a bounded memo like the chunk ids. findIds fetches the full record ids, which the caller's source uris give.
// Fetch takes its ids in the URL, so ids go LIST_PAGE at a time (about 7.5 KB of URL), under the 1,000 the service takes.
//
// Writes are eventually consistent: a read right after a write may miss it, and a deleteDocument racing a fresh upsert
// of the same document can miss the newest chunks (the next reconcile removes them).
//
// Hybrid (config `sparse: { kind: bm25 }`): Pinecone stores a sparse vector beside the dense one in each record and
// scores a query by the dot product of the whole sparse-dense vector, but it computes no keyword statistics. So the
// sink does BM25 itself (connectors/sparse/bm25.ts): a record's sparse values are its terms' saturated, length-
// normalised frequencies, and a query's are its terms' IDF, read from TermStats (per index and tenant, beside the
// ledger), so that their dot product is the chunk's BM25 score. A record's length normalisation uses the tenant's
// average chunk length when it is written; the average drifts as the index grows, which a reindex evens out. The
// statistics are written after the records and removed after them (deleteIds, deleteDocument, dropIndex), keyed by
// chunk id, so retries and replays leave them equal to what the index holds. Sparse values need a dotproduct index: a
// cosine pipeline's vectors (and queries) are stored at unit length there, where the dot product is the cosine; the
// index's registry record keeps the pipeline's metric. Fusion: `convex` is Pinecone's own, one query scoring
// alpha·dense + (1 − alpha)·BM25; `rrf` and `relative-score` query the two halves apart (the sparse half with an
// all-zero dense part) and fuse on our side, weighted by alpha, as Weaviate does.

export const TRUNCATION_MARKER = '\u2026[truncated]';

export { PineconeSinkConfig } from './pinecone.config.ts';

const METRIC: Record<IndexSpec['metric'], 'cosine' | 'dotproduct' | 'euclidean'> = {
  cosine: 'cosine',
  dot: 'dotproduct',
  l2: 'euclidean',
};
const LIST_PAGE = 100;
const IDS_PER_REQUEST = 1000;
const MEMO_LIMIT = 100_000;
const MAX_ID_LENGTH = 512;
/** The largest scan page: that many ids are listed (LIST_PAGE at a time) and fetched for their source uris at most. */
const MAX_SCAN_PAGE = IDS_PER_REQUEST;

/** A non-2xx answer, thrown by our fetch so its status and Retry-After survive the SDK (whose errors keep neither). */
class HttpFailure extends Error {
  override name = 'PineconeHttpFailure';
  // Not `status`: the SDK's retry wrapper retries errors with a 5xx `status`, and retries are Temporal's job.
  readonly httpStatus: number;
  readonly retryAfterMs: number | undefined;
  constructor(httpStatus: number, body: string, retryAfterMs: number | undefined) {
    super(`HTTP ${httpStatus}: ${body.slice(0, 500)}`);
    this.httpStatus = httpStatus;
    this.retryAfterMs = retryAfterMs;
  }
}

function parseRetryAfter(h: string | null): number | undefined {
  if (!h) return undefined;
  const secs = Number(h);
  if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The one place Pinecone and HTTP failures become ConnectorErrors; `what` names the operation for the message. */
export function mapPineconeError(err: unknown, what: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  let http: HttpFailure | undefined;
  for (let e: unknown = err; e instanceof Error && !http; e = e.cause) if (e instanceof HttpFailure) http = e;
  const msg = `pinecone ${what}: ${http?.message ?? (err instanceof Error ? `${err.name}: ${err.message}` : String(err))}`;
  const fail = (type: FailureType, retryAfterMs?: number) => new ConnectorError(type, msg, { cause: err, retryAfterMs });
  if (http) {
    const s = http.httpStatus;
    if (s === 429) return fail(FailureType.RateLimited, http.retryAfterMs);
    if (s >= 500 || s === 408) return fail(FailureType.Unavailable, http.retryAfterMs);
    // A bad or revoked key, or a key without access to this index: configuration, which no retry fixes.
    if (s === 401 || s === 403) return fail(FailureType.InvalidInput);
    // 400 after our own checks passed means the index disagrees with the request (limits, dimension): the sink's side.
    return fail(FailureType.SinkRejected);
  }
  // Raised by the SDK before any request: our call was malformed.
  if (err instanceof Errors.PineconeArgumentError || err instanceof Errors.PineconeConfigurationError)
    return fail(FailureType.InvalidInput);
  // Refused or reset connections, DNS, timeouts: the service may be back on the next attempt.
  return fail(FailureType.Unavailable);
}

const rejected = (message: string) => new ConnectorError(FailureType.SinkRejected, message);

function checkVector(v: Float32Array, dims: number, what: string): void {
  checkFinite(v, dims, what);
  if (v.every((x) => x === 0)) throw invalid(`${what}: Pinecone takes no all-zero dense vector`);
}

const docKey = (sourceUri: string) => createHash('sha256').update(sourceUri).digest('hex').slice(0, 32);
const chunkOf = (recordId: string) => recordId.slice(recordId.indexOf('#') + 1);
/** The docKey of a record id (a record id without one, which this sink never writes, stands for itself). */
const keyOf = (recordId: string) => (recordId.includes('#') ? recordId.slice(0, recordId.indexOf('#')) : recordId);

/** Metadata for one record and its size as JSON, cutting the text to fit `budget` bytes. */
function toMetadata(r: SinkRecord, budget: number): { metadata: RecordMetadata; bytes: number } {
  const m = r.metadata;
  for (const k of ['chunkIndex', 'start', 'end'] as const) {
    if (!Number.isFinite(m[k])) throw invalid(`upsert ${r.id}: metadata ${k} is ${m[k]}`);
  }
  const meta: RecordMetadata = {
    chunk_id: r.id,
    ...toStored(m),
    text: r.text,
  };
  const size = (x: RecordMetadata) => Buffer.byteLength(JSON.stringify(x));
  const full = size(meta);
  if (full <= budget) return { metadata: meta, bytes: full };
  const cut = { ...meta, text: TRUNCATION_MARKER, text_length: r.text.length };
  if (size(cut) > budget) throw invalid(`upsert ${r.id}: metadata without its text exceeds ${budget} bytes`);
  // The longest prefix that fits: JSON escaping and UTF-8 make the byte count uneven, hence a search.
  let lo = 0;
  let hi = r.text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (size({ ...cut, text: r.text.slice(0, mid) + TRUNCATION_MARKER }) <= budget) lo = mid;
    else hi = mid - 1;
  }
  // Never end on half a surrogate pair.
  const code = r.text.charCodeAt(lo - 1);
  if (lo > 0 && code >= 0xd800 && code <= 0xdbff) lo--;
  const metadata = { ...cut, text: r.text.slice(0, lo) + TRUNCATION_MARKER };
  return { metadata, bytes: size(metadata) };
}

interface Row {
  rec: { id: string; values: number[]; sparseValues?: SparseVector; metadata: RecordMetadata };
  /** Its size in the request body. */
  bytes: number;
}

function toRow(r: SinkRecord, key: string, metadataBudget: number, vector: Float32Array, sparse?: SparseVector): Row {
  const { metadata, bytes: metaBytes } = toMetadata(r, metadataBudget);
  const id = `${key}#${r.id}`;
  const { values, jsonLength } = shortFloat32s(vector);
  // Exactly as the SDK serializes it: {"id":…,"values":[…],"metadata":{…}} is 29 bytes of punctuation and keys.
  let bytes = 29 + Buffer.byteLength(JSON.stringify(id)) + jsonLength + metaBytes;
  if (!sparse || sparse.indices.length === 0) return { rec: { id, values, metadata }, bytes };
  const short = shortFloat32s(Float32Array.from(sparse.values));
  // ,"sparseValues":{"indices":[…],"values":[…]} is 38 bytes of punctuation and keys.
  bytes += 38 + JSON.stringify(sparse.indices).length + short.jsonLength;
  return { rec: { id, values, sparseValues: { indices: sparse.indices, values: short.values }, metadata }, bytes };
}

/** The vector at unit length (a copy), so that a dot product of two is their cosine. */
function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return n === 0 ? v : v.map((x) => x / n);
}

function fromMetadata(m: RecordMetadata | undefined): { text: string; metadata: ChunkMetadata } {
  const r = m ?? {};
  return {
    text: String(r.text ?? ''),
    metadata: fromStored(r),
  };
}

export function createPineconeSink(config: PineconeSinkConfig, opts: { termStats?: TermStats } = {}): Sink {
  const c = PineconeSinkConfig.parse(config);
  const stats = opts.termStats;
  if (c.sparse && c.metric !== 'dotproduct') {
    throw invalid(
      `pinecone sparse (${c.sparse.kind}) needs an index with the dotproduct metric, not ${c.metric}: Pinecone takes ` +
        `sparse values only there (create a dotproduct index and set metric: dotproduct)`,
    );
  }
  if (c.sparse && !stats) throw invalid('pinecone sparse: the sink needs the term statistics store (TermStats)');
  const timedFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const timeout = AbortSignal.timeout(c.requestTimeoutMs);
    const res = await fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
    if (res.ok) return res;
    const body = await res.text().catch(() => '');
    throw new HttpFailure(res.status, body, parseRetryAfter(res.headers.get('retry-after')));
  };
  const pc = new Pinecone({
    apiKey: c.apiKey,
    maxRetries: 0,
    fetchApi: timedFetch,
    sourceTag: 'ragline',
    ...(c.controllerHostUrl ? { controllerHostUrl: c.controllerHostUrl } : {}),
  });
  const index: Index = pc.index({ host: c.indexHost });
  let dims: number | undefined;
  let controlPlaneChecked = false;
  const memo = new Map<string, { tenant: string; key: string }>();
  /** Index name -> whether its dense vectors are stored at unit length (a cosine pipeline in a dotproduct index). */
  const unitDense = new Map<string, boolean>();
  /** docKey -> source uri, learnt from writes and scans. */
  const uris = new Map<string, string>();

  const enc = (s: string) => encodeURIComponent(s).replaceAll('.', '%2E');
  const nsBase = (name: string) => {
    if (name.length === 0) throw invalid('an index name must not be empty');
    return `${c.namespacePrefix}${enc(name)}.`;
  };
  const registry = `${c.namespacePrefix}.registry`;
  const regId = (kind: 'index' | 'alias', name: string) => {
    if (name.length === 0) throw invalid(`an ${kind} name must not be empty`);
    const id = `${kind}:${enc(name)}`;
    if (id.length > MAX_ID_LENGTH) throw invalid(`${kind} name ${name} is too long for a Pinecone record id`);
    return id;
  };
  const ns = (name: string, tenant: string) => nsBase(name) + enc(tenant);
  const tenantOf = (name: string, namespace: string) => decodeURIComponent(namespace.slice(nsBase(name).length));
  /** A cosine IndexSpec in a dotproduct index (hybrid): vectors go in, and queries are asked, at unit length. */
  const unitFor = (metric: string | undefined) => c.metric === 'dotproduct' && metric === 'cosine';
  async function isUnit(name: string): Promise<boolean> {
    if (c.metric !== 'dotproduct') return false;
    let u = unitDense.get(name);
    if (u === undefined) {
      const meta = (await registered([regId('index', name)])).get(regId('index', name));
      u = unitFor(typeof meta?.metric === 'string' ? meta.metric : undefined);
      unitDense.set(name, u);
    }
    return u;
  }
  const remember = (chunkId: string, tenant: string, key: string) => {
    if (memo.size >= MEMO_LIMIT) memo.delete(memo.keys().next().value!);
    memo.set(chunkId, { tenant, key });
  };
  const rememberUri = (key: string, sourceUri: string) => {
    if (uris.size >= MEMO_LIMIT && !uris.has(key)) uris.delete(uris.keys().next().value!);
    uris.set(key, sourceUri);
  };

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapPineconeError(err, what);
    }
  }

  async function namespaceCounts(name: string): Promise<Map<string, number>> {
    const stats = await index.describeIndexStats();
    dims = stats.dimension ?? dims;
    const out = new Map<string, number>();
    for (const [n, s] of Object.entries(stats.namespaces ?? {})) if (n.startsWith(nsBase(name))) out.set(n, s.recordCount);
    return out;
  }

  async function dimension(): Promise<number> {
    if (dims === undefined) dims = (await index.describeIndexStats()).dimension;
    if (dims === undefined) throw rejected('pinecone describe_index_stats reported no dimension');
    return dims;
  }

  /** Every record id under `prefix` in one namespace, following the pagination tokens. */
  async function listIds(namespace: string, prefix: string): Promise<string[]> {
    const out: string[] = [];
    let paginationToken: string | undefined;
    do {
      const page = await index.listPaginated({
        namespace,
        prefix,
        limit: LIST_PAGE,
        ...(paginationToken ? { paginationToken } : {}),
      });
      for (const v of page.vectors ?? []) if (v.id) out.push(v.id);
      paginationToken = page.pagination?.next || undefined;
    } while (paginationToken);
    return out;
  }

  /** The records among `ids` that exist in one namespace, with their metadata, LIST_PAGE ids per fetch. */
  async function fetchRecords(namespace: string, ids: string[]): Promise<Map<string, RecordMetadata | undefined>> {
    const out = new Map<string, RecordMetadata | undefined>();
    for (let i = 0; i < ids.length; i += LIST_PAGE) {
      const res = await index.fetch({ ids: ids.slice(i, i + LIST_PAGE), namespace });
      for (const [id, r] of Object.entries(res.records ?? {})) out.set(id, r.metadata);
    }
    return out;
  }

  /** The source uri of each docKey among `ids`, from the memo or one fetched record of it; keys all gone are left out. */
  async function sourceUris(namespace: string, ids: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const unknown = new Map<string, string[]>();
    for (const id of ids) {
      const key = keyOf(id);
      const uri = uris.get(key);
      if (uri !== undefined) found.set(key, uri);
      else (unknown.get(key) ?? unknown.set(key, []).get(key)!).push(id);
    }
    // One record per docKey, then (for a docKey whose record went in between) the rest of its ids on this page.
    for (const pick of [(list: string[]) => list.slice(0, 1), (list: string[]) => list.slice(1)]) {
      const want = [...unknown.values()].flatMap(pick);
      if (want.length === 0) break;
      for (const [id, meta] of await fetchRecords(namespace, want)) {
        const key = keyOf(id);
        if (typeof meta?.source_uri !== 'string' || found.has(key)) continue;
        found.set(key, meta.source_uri);
        rememberUri(key, meta.source_uri);
        unknown.delete(key);
      }
    }
    return found;
  }

  async function deleteRecordIds(namespace: string, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += IDS_PER_REQUEST)
      await index.deleteMany({ ids: ids.slice(i, i + IDS_PER_REQUEST), namespace });
  }

  /** The registry records among `ids` that exist now, by id. */
  async function registered(ids: string[]): Promise<Map<string, RecordMetadata | undefined>> {
    const res = await index.fetch({ ids, namespace: registry });
    return new Map(Object.entries(res.records ?? {}).map(([id, r]) => [id, r.metadata]));
  }

  async function register(id: string, metadata: RecordMetadata): Promise<void> {
    const values = Array.from({ length: await dimension() }, (_, i) => (i === 0 ? 1 : 0));
    await index.upsert({ records: [{ id, values, metadata }], namespace: registry });
  }

  /** An index exists once ensureIndex registered it, or (made before the registry) while it holds records. */
  async function indexExists(name: string, records: Map<string, unknown>): Promise<boolean> {
    return records.has(regId('index', name)) || (await namespaceCounts(name)).size > 0;
  }

  async function checkControlPlane(): Promise<void> {
    if (!c.indexName || controlPlaneChecked) return;
    const model = await pc.indexes.describe(c.indexName);
    if (model.metric !== c.metric || model.dimension !== dims) {
      throw rejected(
        `pinecone index ${c.indexName} has metric=${model.metric} dimension=${model.dimension}, ` +
          `the sink is configured for metric=${c.metric} and the data plane reports dimension=${dims}`,
      );
    }
    controlPlaneChecked = true;
  }

  /** Splits one namespace's records into requests under both the record and the byte ceiling. */
  function* batches(namespace: string, rows: Row[]) {
    const budget = c.maxRequestBytes - Buffer.byteLength(JSON.stringify({ vectors: [], namespace }));
    let batch: Row['rec'][] = [];
    let used = 0;
    for (const row of rows) {
      const size = row.bytes + 1;
      if (size > budget)
        throw invalid(`upsert ${row.rec.id}: one record is ${size} bytes, over the ${budget}-byte request budget`);
      if (batch.length === c.maxBatchRecords || used + size > budget) {
        yield batch;
        batch = [];
        used = 0;
      }
      batch.push(row.rec);
      used += size;
    }
    if (batch.length > 0) yield batch;
  }

  const sink: Sink = {
    kind: 'pinecone',

    async ensureIndex(spec: IndexSpec): Promise<void> {
      if (!Number.isInteger(spec.dims) || spec.dims < 1) throw invalid(`index ${spec.name}: dims must be a positive integer`);
      // A cosine pipeline fits a hybrid (dotproduct) index too: its vectors are stored at unit length there.
      if (METRIC[spec.metric] !== c.metric && !(c.sparse && unitFor(spec.metric))) {
        throw rejected(
          `index ${spec.name} wants metric ${spec.metric}; the Pinecone index uses ${c.metric}, fixed at its creation`,
        );
      }
      await call(`ensureIndex ${spec.name}`, async () => {
        dims = undefined;
        const d = await dimension();
        if (d !== spec.dims) {
          throw rejected(
            `index ${spec.name} wants dims=${spec.dims}; the Pinecone index has dimension ${d}: a new dimension needs a new index`,
          );
        }
        await checkControlPlane();
        const found = await registered([regId('alias', spec.name), regId('index', spec.name)]);
        const target = found.get(regId('alias', spec.name))?.index;
        if (found.has(regId('alias', spec.name)))
          throw rejected(`${spec.name} is an alias (of index ${String(target)}), not an index`);
        const made = found.get(regId('index', spec.name));
        if (made && typeof made.metric === 'string' && made.metric !== spec.metric) {
          throw rejected(`index ${spec.name} was made for metric ${made.metric}, not ${spec.metric}: use a new index version`);
        }
        if (!found.has(regId('index', spec.name)) || made?.metric !== spec.metric)
          await register(regId('index', spec.name), { kind: 'index', name: spec.name, metric: spec.metric });
        unitDense.set(spec.name, unitFor(spec.metric));
      });
    },

    async upsert(name: string, records: SinkRecord[]): Promise<void> {
      if (records.length === 0) return;
      await call(`upsert on ${name}`, async () => {
        const d = await dimension();
        const toUnit = await isUnit(name);
        // BM25 needs each tenant's average chunk length (the batch's own when the tenant has none yet).
        const terms = new Map<string, string[]>();
        const avg = new Map<string, number>();
        if (c.sparse) {
          const lengths = new Map<string, number[]>();
          for (const r of records) {
            const t = analyze(r.text);
            terms.set(r.id, t);
            (lengths.get(r.metadata.tenant) ?? lengths.set(r.metadata.tenant, []).get(r.metadata.tenant)!).push(t.length);
          }
          for (const [tenant, ls] of lengths) {
            const known = await stats!.collection(name, tenant);
            avg.set(tenant, known.chunks > 0 ? known.avgLength : ls.reduce((a, b) => a + b, 0) / ls.length);
          }
        }
        // Validate and convert everything first so a bad record leaves nothing of its call written. Repeated ids keep the last.
        const byNs = new Map<string, Map<string, Row>>();
        for (const r of records) {
          if (typeof r.id !== 'string' || r.id.length === 0) throw invalid(`upsert on ${name}: a record has no id`);
          checkVector(r.vector, d, `upsert ${r.id} on ${name}`);
          const key = docKey(r.metadata.sourceUri);
          const n = ns(name, r.metadata.tenant);
          const rows = byNs.get(n) ?? byNs.set(n, new Map()).get(n)!;
          const sparse = c.sparse
            ? toSparse(bm25DocumentWeights(terms.get(r.id)!, avg.get(r.metadata.tenant)!, c.sparse))
            : undefined;
          rows.set(r.id, toRow(r, key, c.maxMetadataBytes, toUnit ? unit(r.vector) : r.vector, sparse));
        }
        const plan = [...byNs].flatMap(([namespace, rows]) =>
          [...batches(namespace, [...rows.values()])].map((records) => ({ records, namespace })),
        );
        // Requests in flight at once, as Pinecone advises for bulk upserts: the service (or the network) handles one
        // while the next is serialized. After a failure the others stop taking new ones.
        let next = 0;
        const worker = async () => {
          while (next < plan.length) {
            await index.upsert(plan[next++]!).catch((err: unknown) => {
              next = plan.length;
              throw err;
            });
          }
        };
        await Promise.all(Array.from({ length: Math.min(c.concurrency, plan.length) }, worker));
        if (c.sparse) {
          // After the records: statistics never count a chunk the index was never sent. Last copy of a repeated id wins.
          const byTenant = new Map<string, Map<string, ChunkTerms>>();
          for (const r of records) {
            const t = terms.get(r.id)!;
            const m = byTenant.get(r.metadata.tenant) ?? byTenant.set(r.metadata.tenant, new Map()).get(r.metadata.tenant)!;
            m.set(r.id, { id: r.id, length: t.length, terms: [...new Set(t)] });
          }
          for (const [tenant, chunks] of byTenant) await stats!.put(name, tenant, [...chunks.values()]);
        }
        for (const r of records) {
          const key = docKey(r.metadata.sourceUri);
          remember(r.id, r.metadata.tenant, key);
          rememberUri(key, r.metadata.sourceUri);
        }
      });
    },

    async deleteIds(name: string, ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      await call(`deleteIds on ${name}`, async () => {
        const known = new Map<string, string[]>();
        const unknown: string[] = [];
        for (const id of new Set(ids)) {
          const m = memo.get(id);
          if (!m) unknown.push(id);
          else (known.get(m.tenant) ?? known.set(m.tenant, []).get(m.tenant)!).push(`${m.key}#${id}`);
        }
        for (const [tenant, recordIds] of known) await deleteRecordIds(ns(name, tenant), recordIds);
        if (unknown.length > 0) {
          for (const namespace of (await namespaceCounts(name)).keys()) {
            for (let i = 0; i < unknown.length; i += IDS_PER_REQUEST) {
              await index.deleteMany({ filter: { chunk_id: { $in: unknown.slice(i, i + IDS_PER_REQUEST) } }, namespace });
            }
          }
        }
        if (stats) await stats.remove(name, [...new Set(ids)]);
      });
    },

    async deleteDocument(name: string, tenant: string, sourceUri: string): Promise<void> {
      await call(`deleteDocument on ${name}`, async () => {
        const namespace = ns(name, tenant);
        const ids = await listIds(namespace, `${docKey(sourceUri)}#`);
        await deleteRecordIds(namespace, ids);
        if (stats) await stats.remove(name, ids.map(chunkOf));
      });
    },

    async count(name: string, filter: { tenant?: string; sourceUri?: string } = {}): Promise<number> {
      return call(`count on ${name}`, async () => {
        const counts = await namespaceCounts(name);
        const spaces = filter.tenant === undefined ? [...counts.keys()] : [ns(name, filter.tenant)];
        if (filter.sourceUri === undefined) return spaces.reduce((sum, n) => sum + (counts.get(n) ?? 0), 0);
        const prefix = `${docKey(filter.sourceUri)}#`;
        let total = 0;
        for (const n of spaces) total += (await listIds(n, prefix)).length;
        return total;
      });
    },

    async idsOfDocument(name: string, tenant: string, sourceUri: string): Promise<string[]> {
      return call(`idsOfDocument on ${name}`, async () => {
        const key = docKey(sourceUri);
        const ids = (await listIds(ns(name, tenant), `${key}#`)).map(chunkOf);
        for (const id of ids) remember(id, tenant, key);
        if (ids.length > 0) rememberUri(key, sourceUri);
        return ids;
      });
    },

    async search(name: string, vector: Float32Array, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
      if (!Number.isInteger(opts.topK) || opts.topK < 0 || opts.topK > 10_000) {
        throw invalid(`search on ${name}: topK must be an integer from 0 to 10000`);
      }
      if (opts.topK === 0) return [];
      return call(`search on ${name}`, async () => {
        checkVector(vector, await dimension(), `search on ${name}`);
        // Pinecone queries one namespace at a time: without a tenant, ask each of the index's namespaces and merge.
        const spaces = opts.tenant !== undefined ? [ns(name, opts.tenant)] : [...(await namespaceCounts(name)).keys()];
        const values = Array.from((await isUnit(name)) ? unit(vector) : vector);
        const hits: SearchHit[] = [];
        for (const namespace of spaces) {
          const res = await index.query({ vector: values, topK: opts.topK, namespace, includeMetadata: true });
          for (const m of res.matches) {
            // Euclidean scores are squared distances, lower nearer; negated so that a higher score is nearer for every metric.
            const s = m.score ?? Number.NaN;
            hits.push({ id: chunkOf(m.id), score: c.metric === 'euclidean' ? -s : s, ...fromMetadata(m.metadata) });
          }
        }
        return hits.sort((a, b) => b.score - a.score).slice(0, opts.topK);
      });
    },

    async scanChunks(
      name: string,
      opts: { tenant: string; limit: number; cursor?: string; deletedSince?: number },
    ): Promise<ChunkPage> {
      checkScanOptions(name, opts, MAX_SCAN_PAGE);
      const { tenant, limit } = opts;
      let token: unknown;
      if (opts.cursor !== undefined) {
        try {
          token = (JSON.parse(opts.cursor) as { token?: unknown }).token;
        } catch {
          token = undefined;
        }
        if (typeof token !== 'string' || token === '') {
          throw invalid(`scanChunks on ${name}: ${JSON.stringify(opts.cursor)} is not a cursor of this sink`);
        }
      }
      let paginationToken = token as string | undefined;
      return call(`scanChunks on ${name}`, async () => {
        const namespace = ns(name, tenant);
        const ids: string[] = [];
        // List pages hold LIST_PAGE ids at most: a larger page takes several, each asking only for what still fits.
        do {
          const page = await index.listPaginated({
            namespace,
            limit: Math.min(LIST_PAGE, limit - ids.length),
            ...(paginationToken ? { paginationToken } : {}),
          });
          for (const v of page.vectors ?? []) if (v.id) ids.push(v.id);
          paginationToken = page.pagination?.next || undefined;
        } while (paginationToken && ids.length < limit);
        const found = await sourceUris(namespace, ids);
        const chunks: ScannedChunk[] = [];
        for (const id of ids) {
          const sourceUri = found.get(keyOf(id));
          // Every record of its document went during the scan: nothing to report.
          if (sourceUri === undefined) continue;
          chunks.push({ id: chunkOf(id), sourceUri });
          remember(chunkOf(id), tenant, keyOf(id));
        }
        return paginationToken ? { chunks, cursor: JSON.stringify({ token: paginationToken }) } : { chunks };
      });
    },

    async findIds(name: string, tenant: string, chunks: ScannedChunk[]): Promise<string[]> {
      if (chunks.length === 0) return [];
      return call(`findIds on ${name}`, async () => {
        const asked = new Map<string, string>();
        for (const ch of chunks) asked.set(`${docKey(ch.sourceUri)}#${ch.id}`, ch.id);
        const held = await fetchRecords(ns(name, tenant), [...asked.keys()]);
        const out = new Set<string>();
        for (const id of held.keys()) {
          const chunk = asked.get(id);
          if (chunk === undefined) continue;
          out.add(chunk);
          remember(chunk, tenant, keyOf(id));
        }
        return [...out];
      });
    },

    async hasIndex(name: string): Promise<boolean> {
      return call(`hasIndex ${name}`, async () => indexExists(name, await registered([regId('index', name)])));
    },

    async getAlias(alias: string): Promise<string | undefined> {
      return call(`getAlias ${alias}`, async () => {
        const target = (await registered([regId('alias', alias)])).get(regId('alias', alias))?.index;
        return typeof target === 'string' ? target : undefined;
      });
    },

    async setAlias(alias: string, name: string): Promise<void> {
      if (alias === name) throw invalid(`setAlias ${alias}: an alias cannot point at an index of its own name`);
      await call(`setAlias ${alias} -> ${name}`, async () => {
        const found = await registered([
          regId('alias', alias),
          regId('alias', name),
          regId('index', name),
          regId('index', alias),
        ]);
        if (found.has(regId('alias', name))) throw invalid(`setAlias ${alias}: ${name} is an alias, not an index`);
        if (!(await indexExists(name, found))) throw invalid(`setAlias ${alias}: index ${name} does not exist`);
        if (await indexExists(alias, found)) throw invalid(`setAlias ${alias}: ${alias} is the name of an existing index`);
        if (found.get(regId('alias', alias))?.index === name) return;
        // One record, overwritten in one write: readers see the old target or the new one.
        await register(regId('alias', alias), { kind: 'alias', name: alias, index: name });
      });
    },

    async deleteAlias(alias: string): Promise<void> {
      await call(`deleteAlias ${alias}`, async () => {
        // Deleting an id that is not there is a no-op, so a missing alias needs no look-up first.
        await index.deleteMany({ ids: [regId('alias', alias)], namespace: registry });
      });
    },

    async dropIndex(name: string): Promise<void> {
      await call(`dropIndex ${name}`, async () => {
        const target = (await registered([regId('alias', name)])).get(regId('alias', name))?.index;
        if (target !== undefined)
          throw invalid(`dropIndex ${name}: that name is an alias (of ${String(target)}); deleteAlias removes it`);
        const aliasIds = await listIds(registry, 'alias:');
        const pointing: string[] = [];
        // Fetch takes its ids in the URL: a list page's worth at a time keeps it short.
        for (let i = 0; i < aliasIds.length; i += LIST_PAGE) {
          for (const m of (await registered(aliasIds.slice(i, i + LIST_PAGE))).values())
            if (m?.index === name) pointing.push(String(m.name));
        }
        if (pointing.length > 0) {
          throw invalid(`dropIndex ${name}: aliases ${pointing.join(', ')} point at it; move or delete them first`);
        }
        for (const namespace of (await namespaceCounts(name)).keys()) await index.deleteAll({ namespace });
        if (stats) await stats.drop(name);
        await index.deleteMany({ ids: [regId('index', name)], namespace: registry });
        unitDense.delete(name);
      });
    },

    async close(): Promise<void> {
      // The SDK holds no connections of its own (it uses fetch); forget what was learnt.
      memo.clear();
      uris.clear();
      unitDense.clear();
      dims = undefined;
      await stats?.close();
    },
  };
  if (c.sparse) sink.hybridSearch = hybridSearch;
  return sink;

  async function hybridSearch(name: string, query: HybridQuery, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
    if (!Number.isInteger(opts.topK) || opts.topK < 0 || opts.topK > 10_000) {
      throw invalid(`hybrid search on ${name}: topK must be an integer from 0 to 10000`);
    }
    checkHybridQuery(name, query, ['rrf', 'relative-score', 'convex']);
    if (opts.topK === 0) return [];
    return call(`hybrid search on ${name}`, async () => {
      const d = await dimension();
      checkVector(query.vector, d, `hybrid search on ${name}`);
      // The index's namespaces (one stats call) only when they are needed: no tenant, or a tenant without statistics.
      let counts: Map<string, number> | undefined;
      const spacesOf = async () => (counts ??= await namespaceCounts(name));
      const spaces = opts.tenant !== undefined ? [ns(name, opts.tenant)] : [...(await spacesOf()).keys()];
      const dense = Array.from((await isUnit(name)) ? unit(query.vector) : query.vector);
      const terms = analyze(query.text);
      const { alpha, fusion } = query;
      const hits: SearchHit[] = [];
      for (const namespace of spaces) {
        const tenant = tenantOf(name, namespace);
        const known = await stats!.collection(name, tenant);
        if (known.chunks === 0 && ((await spacesOf()).get(namespace) ?? 0) > 0) {
          throw invalid(
            `hybrid search on ${name}: its records for tenant ${tenant} carry no sparse values (written before ` +
              `sparse was configured); reindex to a new version to search it hybrid`,
          );
        }
        const df = await stats!.documentFrequencies(name, tenant, terms);
        const sparse = toSparse(bm25QueryWeights(terms, known.chunks, df));
        const ask = async (vector: number[], sparseVector?: SparseVector) => {
          const res = await index.query({
            vector,
            ...(sparseVector && sparseVector.indices.length > 0 ? { sparseVector } : {}),
            topK: opts.topK,
            namespace,
            includeMetadata: true,
          });
          return res.matches.map((m) => ({ id: m.id, score: m.score ?? 0, metadata: m.metadata }));
        };
        const scaled = (v: SparseVector, w: number) => ({ indices: v.indices, values: v.values.map((x) => x * w) });
        const zeros = new Array<number>(d).fill(0);
        const found: { id: string; score: number; metadata: RecordMetadata | undefined }[] = [];
        if (fusion === 'convex') {
          // Pinecone's own: one query with the dense part weighed alpha and the sparse part 1 - alpha.
          if (alpha === 0 && sparse.indices.length === 0) continue;
          for (const m of await ask(
            dense.map((x) => x * alpha),
            alpha < 1 ? scaled(sparse, 1 - alpha) : undefined,
          )) {
            // Keyword only: the chunks that share a term with the query, as on the other sinks.
            if (alpha > 0 || m.score > 0) found.push(m);
          }
        } else {
          const byDense = alpha > 0 ? await ask(dense) : [];
          // The keyword half alone: no dense part, and only chunks sharing a term with the query (score > 0).
          const bySparse = alpha < 1 && sparse.indices.length > 0 ? (await ask(zeros, sparse)).filter((m) => m.score > 0) : [];
          const meta = new Map([...byDense, ...bySparse].map((m) => [m.id, m.metadata]));
          let fused: [string, number][];
          if (fusion === 'rrf') {
            fused = fusedScores([byDense.map((m) => m.id), bySparse.map((m) => m.id)], 60, [alpha, 1 - alpha]);
          } else {
            // Weaviate's relativeScore: each half's scores min-max scaled to [0, 1] within its results, then weighed.
            const score = new Map<string, number>();
            for (const [list, w] of [
              [byDense, alpha],
              [bySparse, 1 - alpha],
            ] as const) {
              if (list.length === 0) continue;
              const hi = Math.max(...list.map((m) => m.score));
              const lo = Math.min(...list.map((m) => m.score));
              for (const m of list) score.set(m.id, (score.get(m.id) ?? 0) + w * (hi > lo ? (m.score - lo) / (hi - lo) : 1));
            }
            fused = [...score].sort((a, b) => b[1] - a[1]);
          }
          for (const [id, score] of fused.slice(0, opts.topK)) found.push({ id, score, metadata: meta.get(id) });
        }
        for (const m of found) hits.push({ id: chunkOf(m.id), score: m.score, ...fromMetadata(m.metadata) });
      }
      return hits.sort((a, b) => b.score - a.score).slice(0, opts.topK);
    });
  }
}
