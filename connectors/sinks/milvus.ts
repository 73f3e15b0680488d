import {
  ConsistencyLevelEnum,
  DataType,
  FunctionType,
  MilvusClient,
  RRFRanker,
  type FieldType,
  type FunctionObject,
  type ResStatus,
  type SearchResultData,
} from '@zilliz/milvus2-sdk-node';
import { MilvusSinkConfig } from './milvus.config.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { ChunkMetadata, ChunkPage, HybridQuery, IndexSpec, ScannedChunk, SearchHit, Sink, SinkRecord } from './sink.ts';
import {
  checkHybridQuery,
  checkScanOptions,
  checkVector,
  fromStored,
  invalid,
  ownIndexFound,
  rejected,
  toStored,
} from './records.ts';

// Layout: one Milvus collection per index with an explicit schema. Our tenant is a VarChar partition key: Milvus hashes
// it into the collection's partitions (16 by default), so a tenant filter searches one partition instead of all, and
// tenants need no setup (Milvus Lite supports this too, checked against Milvus Lite 3.2.2). Every read and delete
// still filters on the tenant: a partition holds many tenants. Reads use Strong consistency so they see every write
// acknowledged before them. The dimension lives in the schema and the metric in the vector index, so ensureIndex
// checks both; a collection property records which index name made the collection, as several names can map to one.
//
// Index versions use Milvus's native aliases (supported by Milvus Lite 3.2.2 too, checked): alterAlias moves an alias in
// one metadata operation, and reads through an alias name reach the collection it points at. Alias names map to Milvus
// names like index names do, so two alias names that differ only in characters Milvus does not allow are one alias.
// Milvus Lite drops a collection that still has aliases (leaving them dangling), so dropIndex checks listAliases first.
//
// `heading_path` (JSON array text, records.ts) came after the first collections were made. A collection without it
// stays fully usable: its writes leave the path out and its hits come back without one, so a running pipeline is not
// broken by the upgrade; a reindex (a new index version) makes a collection that has it. Not added in place: Milvus
// Lite 3.2.2 answers addCollectionField with an empty status and adds nothing (tried), and a field added to a
// production Milvus must be nullable, unlike the others.
//
// Hybrid search (keyword + vector) is native: the chunk text is an analyzed VarChar, and a BM25 function turns it into
// a sparse vector field (`text_bm25`) with a sparse inverted index of metric BM25, so Milvus computes the keyword
// scores itself, with the collection's own term statistics. The function's output is never sent (Milvus computes it
// from the text on every write) and never asked for (every read names its output fields). The analyzer is `standard`
// (Unicode words, lower case; no stemming, no stop words): Milvus Lite 3.2.2 refuses the `english` one ("unknown
// tokenizer type"), and an unstemmed index keeps codes, identifiers and non-English words exact; IDF weighs common words
// down. Collections made before hybrid support lack the field and the function and keep working for everything else;
// hybridSearch refuses them (a reindex makes a new index version that has them). Not added in place, as for heading_path.
//
// Scans (scanChunks) cannot page by primary key or offset (see idsOfDocument), so they split the id space into ranges
// by position: position p of 2^32 stands for the id text of p's 8 hex digits without trailing zeros, and a range holds
// the ids from its start position's text up to its end's (position 0 has no lower bound and 2^32 no upper one, so ids
// that are not lowercase hex are covered too; the texts grow with p, so consecutive ranges never overlap or leave a
// gap). The first range's width comes from the tenant's count, so that it holds about 3/4 of a page (one query then
// usually makes a page without running over); each later one's from the rows the one before held. A range is read whole, sorted by id, and a page that ends inside it continues after its
// last id. Its query carries a limit above what a range should hold: a reply that reaches it is no whole range (Milvus
// returns any `limit` matches, not the first), so the range is narrowed and read again, keeping memory near a page;
// only ids bunched under one 8-digit prefix (no pipeline chunk ids) are read without a limit. Milvus compares VarChar
// ids by their UTF-8 bytes (checked with Milvus Lite 3.2.2), and so does the sort here. Queries, not rows, dominate the
// cost (about 0.1-0.4 s each on Milvus Lite, however few rows), hence few, page-sized ranges and no count per range.
// Rows written or deleted during a scan move no other row, so deletedSince is not needed.

export { MilvusSinkConfig } from './milvus.config.ts';

type Metric = 'COSINE' | 'IP' | 'L2';
const METRIC: Record<IndexSpec['metric'], Metric> = { cosine: 'COSINE', dot: 'IP', l2: 'L2' };
const OWNER = 'ragline.index';
const MAX_TOPK = 16_384;
const MAX_REQUEST_BYTES = 8 << 20;
/** The largest scan page, as for search (one Milvus result window). */
const MAX_SCAN_PAGE = 16_384;
/** Scan positions: the 8 hex digits that open a UUID (see the layout comment). */
const SCAN_POSITIONS = 2 ** 32;
/** Queries one scanChunks call makes at most before it returns what it has. */
const MAX_SCAN_QUERIES = 32;
/** Ids per query of findIds. */
const IDS_PER_QUERY = 1000;

/** VarChar capacities in bytes; a value over them is refused before anything is written. */
const MAX_BYTES = {
  id: 64,
  text: 65_535,
  tenant: 256,
  source_uri: 4096,
  content_hash: 256,
  pipeline_version: 256,
  heading_path: 4096,
} as const;
const TEXT_FIELDS = ['text', 'tenant', 'source_uri', 'content_hash', 'pipeline_version', 'heading_path'] as const;
const HEADING_PATH = 'heading_path';
const OUTPUT = ['id', ...TEXT_FIELDS, 'chunk_index', 'start', 'end'];
/** The BM25 function's sparse output field (never written or read by this sink, only searched). */
const BM25_FIELD = 'text_bm25';
const BM25_FUNCTION: FunctionObject = {
  name: 'text_to_bm25',
  type: FunctionType.BM25,
  input_field_names: ['text'],
  output_field_names: [BM25_FIELD],
  params: {},
};
/** The sparse index of the BM25 field (Lucene's k1 and b, as connectors/sparse/bm25.ts). */
export const MILVUS_BM25_INDEX = {
  field_name: BM25_FIELD,
  index_type: 'SPARSE_INVERTED_INDEX',
  metric_type: 'BM25',
  params: { bm25_k1: 1.2, bm25_b: 0.75 },
};
/** Reciprocal-rank fusion's k, as Weaviate and the eval harness use. */
const RRF_K = 60;

interface Index {
  collection: string;
  dims: number;
  metric: Metric;
  /** False for a collection made before the heading_path field existed: its rows leave it out. */
  headingPath: boolean;
  /** False for a collection made before hybrid support: it has no BM25 field of the chunk text. */
  hybrid: boolean;
}

type Row = Record<(typeof TEXT_FIELDS)[number] | 'id', string> &
  Record<'chunk_index' | 'start' | 'end', number> & { vector: number[] };

/** The Milvus collection for an index name: names match [A-Za-z_][A-Za-z0-9_]*, so other characters become `_`. */
export function milvusCollectionName(index: string): string {
  if (index.length === 0) throw invalid('an index name must not be empty');
  const safe = index.replace(/[^A-Za-z0-9_]/g, '_');
  const name = /^[A-Za-z_]/.test(safe) ? safe : `_${safe}`;
  if (name.length > 255) throw invalid(`index name ${index} is longer than Milvus allows (255)`);
  return name;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r' };

/** A Milvus filter string literal for any value: backslash, double quote, CR and LF escaped, all else kept as is. */
export function milvusString(value: string): string {
  return `"${value.replace(/[\\"\n\r]/g, (ch) => ESCAPES[ch]!)}"`;
}

function isStatus(x: unknown): x is ResStatus {
  return typeof x === 'object' && x !== null && 'error_code' in x && 'reason' in x;
}

function statusOk(s: ResStatus): boolean {
  return (s.error_code === 'Success' || s.error_code === 0) && (s.code ?? 0) === 0;
}

/** The one place Milvus failures become ConnectorErrors, whether the SDK threw or returned a failed status. */
export function mapMilvusError(err: unknown, what: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  if (isStatus(err)) {
    const msg = `milvus ${what}: ${String(err.error_code)} (${String(err.code)}): ${err.reason}`;
    // The server marks transient failures `retriable` (not ready, unavailable, queue full, rate limit); code 8 is its
    // rate limit, 2 and 3 unavailable and out of memory. Anything else (missing collection, bad expression, bad
    // parameter) fails again as sent.
    const type =
      err.code === 8 || err.error_code === 'RateLimit'
        ? FailureType.RateLimited
        : err.retriable || err.code === 2 || err.code === 3
          ? FailureType.Unavailable
          : FailureType.SinkRejected;
    return new ConnectorError(type, msg, { cause: err });
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const fail = (type: FailureType) => new ConnectorError(type, `milvus ${what}: ${e.message}`, { cause: err });
  // Thrown errors carry a gRPC status code: refusals by code, the rest (UNAVAILABLE, DEADLINE_EXCEEDED, resets) transient.
  const code = (e as { code?: unknown }).code;
  if (code === 8) return fail(FailureType.RateLimited);
  if (code === 3 || code === 5 || code === 7 || code === 12 || code === 16) return fail(FailureType.SinkRejected);
  return fail(FailureType.Unavailable);
}

/** Every SDK reply goes through here: a failed status becomes a thrown ConnectorError. */
function check<T extends { status: ResStatus } | ResStatus>(res: T, what: string): T {
  const status = ('status' in res ? res.status : res) as ResStatus;
  if (!statusOk(status)) throw mapMilvusError(status, what);
  return res;
}

function toRow(r: SinkRecord, idx: Pick<Index, 'dims' | 'headingPath'>, what: string): Row {
  const m = r.metadata;
  const row: Row = {
    id: r.id,
    vector: Array.from(r.vector),
    text: r.text,
    ...toStored(m),
  };
  if (typeof r.id !== 'string' || r.id.length === 0) throw invalid(`${what}: a record has no id`);
  checkVector(r.vector, idx.dims, `${what} ${r.id}`);
  // A field the collection lacks would fail the whole upsert.
  if (!idx.headingPath) delete (row as Partial<Row>).heading_path;
  for (const f of ['id', ...TEXT_FIELDS] as const) {
    if (f === HEADING_PATH && !idx.headingPath) continue;
    const bytes = Buffer.byteLength(String(row[f]), 'utf8');
    if (typeof row[f] !== 'string' || bytes > MAX_BYTES[f]) {
      throw invalid(`${what} ${r.id}: ${f} must be a string of at most ${MAX_BYTES[f]} bytes (it has ${bytes})`);
    }
  }
  for (const f of ['chunk_index', 'start', 'end'] as const) {
    if (!Number.isSafeInteger(row[f])) throw invalid(`${what} ${r.id}: ${f} must be an integer`);
  }
  return row;
}

function fromRow(r: Record<string, unknown>): ChunkMetadata {
  return fromStored(r);
}

/** What a search returns: never the BM25 field, nor heading_path where the collection lacks it. */
function outputFields(idx: Pick<Index, 'headingPath'>): string[] {
  return idx.headingPath ? OUTPUT : OUTPUT.filter((f) => f !== HEADING_PATH);
}

function toHit(r: SearchResultData, score: number): SearchHit {
  return { id: String(r.id), score, text: String(r.text ?? ''), metadata: fromRow(r) };
}

function checkTopK(what: string, topK: number): void {
  if (!Number.isInteger(topK) || topK < 0 || topK > MAX_TOPK)
    throw invalid(`${what}: topK must be an integer from 0 to ${MAX_TOPK}`);
}

/** The schema ensureIndex gives a new collection (its fields and the BM25 function), for tools that make one by hand. */
export function milvusCollectionSchema(dims: number): { fields: FieldType[]; functions: FunctionObject[] } {
  return { fields: fields(dims), functions: [BM25_FUNCTION] };
}

function fields(dims: number): FieldType[] {
  const varchar = (name: keyof typeof MAX_BYTES, extra: Partial<FieldType> = {}): FieldType => ({
    name,
    data_type: DataType.VarChar,
    max_length: MAX_BYTES[name],
    ...extra,
  });
  return [
    varchar('id', { is_primary_key: true }),
    { name: 'vector', data_type: DataType.FloatVector, dim: dims },
    varchar('text', { enable_analyzer: true, analyzer_params: { type: 'standard' } }),
    varchar('tenant', { is_partition_key: true }),
    varchar('source_uri'),
    varchar('content_hash'),
    varchar('pipeline_version'),
    varchar(HEADING_PATH),
    { name: 'chunk_index', data_type: DataType.Int64 },
    { name: 'start', data_type: DataType.Int64 },
    { name: 'end', data_type: DataType.Int64 },
    { name: BM25_FIELD, data_type: DataType.SparseFloatVector },
  ];
}

/** Where a scan stands: at the range of width `w` starting at position `p`, after id `a` when a page ended inside it. */
interface ScanCursor {
  p: number;
  w: number;
  a?: string;
}

/** The id text a position stands for (see the layout comment): '' for 0, undefined (no bound) for 2^32. */
function positionText(p: number): string | undefined {
  if (p <= 0) return '';
  if (p >= SCAN_POSITIONS) return undefined;
  return p.toString(16).padStart(8, '0').replace(/0+$/, '');
}

/** The last position whose text (positionText) is at most `id`. */
function positionOf(id: string): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    const ch = id[i];
    // Past the id's end, or a character below '0': zeros from here on.
    if (ch === undefined || ch < '0') return p * 16 ** (8 - i);
    if (/[0-9a-f]/.test(ch)) {
      p = p * 16 + parseInt(ch, 16);
      continue;
    }
    // Between '9' and 'a' or above 'f': the digit below it, then the highest position under that.
    return (p * 16 + (ch < 'a' ? 9 : 15) + 1) * 16 ** (7 - i) - 1;
  }
  return p;
}

/** The filter of a scan's current range for one tenant. */
function rangeFilter(tenant: string, { p, w, a }: ScanCursor): string {
  const terms = [`tenant == ${milvusString(tenant)}`];
  const lo = positionText(p);
  if (lo) terms.push(`id >= ${milvusString(lo)}`);
  if (a !== undefined) terms.push(`id > ${milvusString(a)}`);
  const hi = positionText(p + w);
  if (hi !== undefined) terms.push(`id < ${milvusString(hi)}`);
  return terms.join(' && ');
}

function parseScanCursor(index: string, cursor: string): ScanCursor {
  let c: Partial<ScanCursor> | undefined;
  try {
    c = JSON.parse(cursor) as Partial<ScanCursor>;
  } catch {
    c = undefined;
  }
  const position = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= SCAN_POSITIONS;
  if (
    typeof c !== 'object' ||
    c === null ||
    !position(c.p) ||
    !position(c.w) ||
    c.w < 1 ||
    c.p >= SCAN_POSITIONS ||
    (c.a !== undefined && typeof c.a !== 'string')
  ) {
    throw invalid(`scanChunks on ${index}: ${JSON.stringify(cursor)} is not a cursor of this sink`);
  }
  return { p: c.p, w: c.w, ...(c.a === undefined ? {} : { a: c.a }) };
}

const byBytes = (x: string, y: string) => Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));

function documentFilter(tenant: string, sourceUri: string): string {
  return `tenant == ${milvusString(tenant)} && source_uri == ${milvusString(sourceUri)}`;
}

/** The SDK's TLS settings: PEM texts as Buffers. A client key means mutual TLS; a CA alone, one-way TLS. */
function milvusTls(t: NonNullable<MilvusSinkConfig['tls']>) {
  const buf = (pem: string | undefined) => (pem === undefined ? undefined : Buffer.from(pem));
  return { rootCert: buf(t.ca), certChain: buf(t.cert), privateKey: buf(t.key), serverName: t.serverName };
}

export function createMilvusSink(config: MilvusSinkConfig): Sink {
  const c = MilvusSinkConfig.parse(config);
  const indexes = new Map<string, Index>();
  const writers = new Map<string, Promise<unknown>>();
  let client: MilvusClient | undefined;
  const strong = ConsistencyLevelEnum.Strong;

  function conn(): MilvusClient {
    if (!client) {
      // The SDK's own retries are off (the activity's retry policy decides) and its telemetry heartbeats too.
      client = new MilvusClient({
        address: c.address,
        token: c.token,
        username: c.username,
        password: c.password,
        database: c.database,
        ssl: c.ssl,
        ...(c.tls ? { tls: milvusTls(c.tls) } : {}),
        timeout: c.timeoutMs,
        maxRetries: 0,
        logLevel: 'error',
        telemetry: { enabled: false },
        // The SDK pings every 10 s even on an idle connection; a server that keeps gRPC's default ping policy (one
        // ping per 5 min without data; Milvus Lite does) answers with GOAWAY too_many_pings, and a call made at that
        // moment fails RESOURCE_EXHAUSTED. Ping only under calls, every minute; each call's deadline
        // (timeoutMs) still ends one on a dead connection.
        channelOptions: { 'grpc.keepalive_time_ms': 60_000, 'grpc.keepalive_permit_without_calls': 0 },
      });
      // The constructor starts connecting at once; an unreachable server would otherwise be an unhandled rejection.
      // Every call awaits this promise and fails there, so it is a failed call that reports it.
      client.connectPromise.catch(() => undefined);
    }
    return client;
  }

  /** A client whose connection failed keeps failing; drop it so the next call connects afresh. */
  function dropClient(): void {
    void client?.closeConnection().catch(() => undefined);
    client = undefined;
  }

  /**
   * Runs this sink's writes to one collection one at a time, as Milvus Lite is not built for concurrent writers to a
   * collection. Other sinks and processes are not covered; Milvus Lite 3.2.2 in server mode took three processes
   * upserting and deleting in one collection at once without a failure or a lost row, when tried.
   */
  function serialized<T>(collection: string, fn: () => Promise<T>): Promise<T> {
    const run = (writers.get(collection) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    writers.set(collection, tail);
    void tail.then(() => writers.get(collection) === tail && writers.delete(collection));
    return run;
  }

  /** The index name that made `collection` (its owner property); undefined when there is no such collection. */
  async function ownerOf(collection: string): Promise<string | undefined> {
    const desc = await conn().describeCollection({ collection_name: collection });
    if (desc.status.code === 100 || /not exist|not found/i.test(desc.status.reason)) return undefined;
    check(desc, `describeCollection ${collection}`);
    const owner = desc.properties.find((p) => p.key === OWNER)?.value;
    if (owner === undefined) throw rejected(`milvus collection ${collection} was not created by ensureIndex`);
    return String(owner);
  }

  /** The collection an alias names; undefined when there is no such alias. */
  async function aliasTarget(name: string): Promise<string | undefined> {
    // The SDK insists on collection_name here though DescribeAlias does not take one; it is not sent.
    const res = await conn().describeAlias({ alias: name, collection_name: name });
    if (res.status.code === 100 || /does not exist/i.test(res.status.reason)) return undefined;
    return check(res, `describeAlias ${name}`).collection;
  }

  /** Runs an alias or drop operation, mapping its failures like every other call. */
  async function admin<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const mapped = mapMilvusError(err, what);
      if (mapped.type === FailureType.Unavailable) dropClient();
      throw mapped;
    }
  }

  /** The collection's dimension and metric as Milvus reports them; undefined when there is no such collection. */
  async function describe(index: string): Promise<(Omit<Index, 'metric'> & { metric: Metric | undefined }) | undefined> {
    const collection = milvusCollectionName(index);
    const desc = await conn().describeCollection({ collection_name: collection });
    if (desc.status.code === 100 || /not exist|not found/i.test(desc.status.reason)) return undefined;
    check(desc, `describeCollection ${collection}`);
    const owner = desc.properties.find((p) => p.key === OWNER)?.value;
    if (owner === undefined) throw rejected(`milvus collection ${collection} was not created by ensureIndex`);
    if (owner !== index) throw rejected(`milvus collection ${collection} belongs to index ${owner}, not ${index}`);
    const vector = desc.schema.fields.find((f) => f.name === 'vector');
    const dims = Number(vector?.type_params?.find((p) => p.key === 'dim')?.value ?? (vector as { dim?: unknown })?.dim);
    const idx = await conn().describeIndex({ collection_name: collection, field_name: 'vector' });
    // Milvus reports a missing index as code 700 (IndexNotFound).
    if (idx.status.code !== 700) check(idx, `describeIndex ${collection}`);
    const params = idx.index_descriptions?.[0]?.params ?? [];
    const metric = params.find((p) => p.key === 'metric_type')?.value as Metric | undefined;
    const headingPath = desc.schema.fields.some((f) => f.name === HEADING_PATH);
    // The field and the function that fills it from the text: a sparse field alone would be empty.
    const hybrid =
      desc.schema.fields.some((f) => f.name === BM25_FIELD) &&
      (desc.schema.functions ?? []).some(
        (fn) =>
          String(fn.type) === 'BM25' && fn.input_field_names.includes('text') && fn.output_field_names?.includes(BM25_FIELD),
      );
    return { collection, dims, metric, headingPath, hybrid };
  }

  async function open(index: string): Promise<Index> {
    const known = indexes.get(index);
    if (known) return known;
    const d = await describe(index);
    if (!d)
      throw rejected(
        `milvus collection ${milvusCollectionName(index)} for index ${index} does not exist: ensureIndex creates it`,
      );
    if (!d.metric) throw rejected(`milvus collection ${d.collection} has no vector index: ensureIndex creates it`);
    const idx = { ...d, metric: d.metric };
    indexes.set(index, idx);
    return idx;
  }

  async function withIndex<T>(index: string, what: string, fn: (idx: Index) => Promise<T>): Promise<T> {
    try {
      return await fn(await open(index));
    } catch (err) {
      const mapped = mapMilvusError(err, `${what} on ${index}`);
      // A handle cached before the collection was dropped or changed is read again next time.
      if (mapped.type === FailureType.SinkRejected) indexes.delete(index);
      if (mapped.type === FailureType.Unavailable) dropClient();
      throw mapped;
    }
  }

  /** The plain vector search (also hybrid search's alpha 1). */
  async function dense(idx: Index, vector: Float32Array, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
    const res = check(
      await conn().search({
        collection_name: idx.collection,
        anns_field: 'vector',
        data: Array.from(vector),
        limit: opts.topK,
        filter: opts.tenant !== undefined ? `tenant == ${milvusString(opts.tenant)}` : undefined,
        output_fields: outputFields(idx),
        consistency_level: strong,
        // HNSW returns at most ef candidates.
        params: { ef: Math.max(64, opts.topK) },
      }),
      `search ${idx.collection}`,
    );
    // COSINE and IP scores are similarities already; L2 reports the squared distance, negated so higher is nearer.
    return res.results.map((r) => toHit(r, idx.metric === 'L2' ? -r.score : r.score));
  }

  async function ensure(spec: IndexSpec): Promise<void> {
    const metric = METRIC[spec.metric];
    const collection = milvusCollectionName(spec.name);
    let d = await describe(spec.name);
    if (!d) {
      await conn()
        .createCollection({
          collection_name: collection,
          ...milvusCollectionSchema(spec.dims),
          properties: { [OWNER]: spec.name },
          consistency_level: 'Strong',
        })
        .then((res) => check(res, `createCollection ${collection}`))
        // Another worker created it first: use theirs, checked below like any existing one. (The SDK throws this status.)
        .catch((err: unknown) => (/already exist/i.test(String((err as ResStatus)?.reason)) ? undefined : Promise.reject(err)));
      d = await describe(spec.name);
      if (!d) throw rejected(`milvus collection ${collection} was not there after creating it`);
    }
    if (d.dims !== spec.dims || (d.metric !== undefined && d.metric !== metric)) {
      throw rejected(
        `milvus collection ${collection} exists with dims=${d.dims} metric=${d.metric}, not dims=${spec.dims} metric=${metric}: ` +
          'a new dimension or metric needs a new index version',
      );
    }
    if (d.metric === undefined) {
      const res = await conn().createIndex({
        collection_name: collection,
        field_name: 'vector',
        index_type: 'HNSW',
        metric_type: metric,
        params: { M: 16, efConstruction: 200 },
      });
      if (!/already exists/i.test(res.reason)) check(res, `createIndex ${collection}`);
    }
    if (d.hybrid) {
      // Made here right after the collection, but a crash in between leaves it out: a collection loads only with an
      // index on every vector field.
      const sparse = await conn().describeIndex({ collection_name: collection, field_name: BM25_FIELD });
      if (sparse.status.code === 700 || /not found|not exist/i.test(sparse.status.reason)) {
        const res = await conn().createIndex({ collection_name: collection, ...MILVUS_BM25_INDEX });
        if (!/already exists/i.test(res.reason)) check(res, `createIndex ${collection} ${BM25_FIELD}`);
      } else check(sparse, `describeIndex ${collection} ${BM25_FIELD}`);
    }
    check(await conn().loadCollection({ collection_name: collection }), `loadCollection ${collection}`);
    indexes.set(spec.name, { collection, dims: spec.dims, metric, headingPath: d.headingPath, hybrid: d.hybrid });
  }

  return {
    kind: 'milvus',

    async ensureIndex(spec: IndexSpec): Promise<void> {
      if (!Number.isInteger(spec.dims) || spec.dims < 1) throw invalid(`index ${spec.name}: dims must be a positive integer`);
      indexes.delete(spec.name);
      try {
        await ensure(spec);
      } catch (err) {
        const mapped = mapMilvusError(err, `ensureIndex ${spec.name}`);
        if (mapped.type === FailureType.Unavailable) dropClient();
        throw mapped;
      }
    },

    async upsert(index: string, records: SinkRecord[]): Promise<void> {
      if (records.length === 0) return;
      await withIndex(index, 'upsert', async (idx) => {
        const { collection, dims } = idx;
        // Validate everything first so a bad record leaves nothing of its call written. Repeated ids keep the last.
        const byId = new Map<string, Row>();
        for (const r of records) byId.set(r.id, toRow(r, idx, `upsert on ${index}:`));
        const batches: Row[][] = [];
        let batch: Row[] = [];
        let bytes = 0;
        for (const row of byId.values()) {
          const size = dims * 4 + 64 + TEXT_FIELDS.reduce((n, f) => n + (row[f]?.length ?? 0) * 3, 0);
          if (batch.length > 0 && (batch.length >= c.batchSize || bytes + size > MAX_REQUEST_BYTES)) {
            batches.push(batch);
            batch = [];
            bytes = 0;
          }
          batch.push(row);
          bytes += size;
        }
        batches.push(batch);
        await serialized(collection, async () => {
          for (const rows of batches) {
            const res = check(await conn().upsert({ collection_name: collection, data: rows }), `upsert ${collection}`);
            if (res.err_index.length > 0) {
              const ids = res.err_index.map((i) => rows[Number(i)]?.id);
              throw new ConnectorError(
                FailureType.Unavailable,
                `milvus upsert on ${index}: rows not written: ${ids.slice(0, 20).join(', ')}`,
              );
            }
          }
        });
      });
    },

    async deleteIds(index: string, ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      await withIndex(index, 'deleteIds', ({ collection }) =>
        serialized(collection, async () => {
          for (let i = 0; i < ids.length; i += c.batchSize) {
            const filter = `id in [${ids
              .slice(i, i + c.batchSize)
              .map(milvusString)
              .join(', ')}]`;
            check(await conn().delete({ collection_name: collection, filter }), `delete ${collection}`);
          }
        }),
      );
    },

    async deleteDocument(index: string, tenant: string, sourceUri: string): Promise<void> {
      await withIndex(index, 'deleteDocument', ({ collection }) =>
        serialized(collection, async () => {
          check(
            await conn().delete({ collection_name: collection, filter: documentFilter(tenant, sourceUri) }),
            `delete ${collection}`,
          );
        }),
      );
    },

    async count(index: string, filter: { tenant?: string; sourceUri?: string } = {}): Promise<number> {
      return withIndex(index, 'count', async ({ collection }) => {
        const terms: string[] = [];
        if (filter.tenant !== undefined) terms.push(`tenant == ${milvusString(filter.tenant)}`);
        if (filter.sourceUri !== undefined) terms.push(`source_uri == ${milvusString(filter.sourceUri)}`);
        const res = check(
          await conn().query({
            collection_name: collection,
            filter: terms.join(' && '),
            output_fields: ['count(*)'],
            consistency_level: strong,
          }),
          `count ${collection}`,
        );
        return Number(res.data[0]?.['count(*)'] ?? 0);
      });
    },

    async idsOfDocument(index: string, tenant: string, sourceUri: string): Promise<string[]> {
      return withIndex(index, 'idsOfDocument', async ({ collection }) => {
        // One query without a limit returns every match. Not paged: Milvus returns query rows in no fixed order (Milvus
        // Lite visibly so), so primary-key keyset pages, and the SDK's queryIterator built on them, repeat and skip rows,
        // and offset pages end at offset + limit = 16,384 on a Milvus server.
        const res = check(
          await conn().query({
            collection_name: collection,
            filter: documentFilter(tenant, sourceUri),
            output_fields: ['id'],
            consistency_level: strong,
          }),
          `query ${collection}`,
        );
        return res.data.map((r) => String(r.id));
      });
    },

    async search(index: string, vector: Float32Array, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
      checkTopK(`search on ${index}`, opts.topK);
      if (opts.topK === 0) return [];
      return withIndex(index, 'search', async (idx) => {
        checkVector(vector, idx.dims, `search on ${index}`);
        return dense(idx, vector, opts);
      });
    },

    async hybridSearch(index: string, query: HybridQuery, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
      checkTopK(`hybrid search on ${index}`, opts.topK);
      checkHybridQuery(index, query);
      // Milvus's RRF ranker weighs its routes equally (it takes no weights), unlike Weaviate's: refused rather than
      // quietly ignoring alpha. 0 and 1 run one half alone (below), where weights do not matter.
      if (query.fusion === 'rrf' && query.alpha !== 0.5 && query.alpha !== 0 && query.alpha !== 1) {
        throw invalid(
          `hybrid search on ${index}: milvus fuses by reciprocal rank with both halves weighed equally, so rrf takes ` +
            `alpha 0.5 (or 0 or 1), not ${query.alpha}; use fusion relative-score to weigh the halves`,
        );
      }
      if (opts.topK === 0) return [];
      return withIndex(index, 'hybridSearch', async (idx) => {
        checkVector(query.vector, idx.dims, `hybrid search on ${index}`);
        if (!idx.hybrid) {
          throw invalid(
            `hybrid search on ${index}: milvus collection ${idx.collection} predates hybrid support (it has no BM25 ` +
              "field of the chunk text); reindex to a new version (raise the spec's version, then ingest reindex), " +
              'whose index has it',
          );
        }
        // Weaviate's alpha: 1 is the vector search alone, 0 the keyword search alone (only chunks with a query word).
        if (query.alpha === 1) return dense(idx, query.vector, opts);
        const filter = opts.tenant !== undefined ? `tenant == ${milvusString(opts.tenant)}` : undefined;
        const output_fields = outputFields(idx);
        const keyword = { anns_field: BM25_FIELD, data: query.text, params: { metric_type: 'BM25' } };
        if (query.alpha === 0) {
          const res = check(
            await conn().search({
              collection_name: idx.collection,
              ...keyword,
              limit: opts.topK,
              filter,
              output_fields,
              consistency_level: strong,
            }),
            `search ${idx.collection}`,
          );
          // A BM25 score is never negative; Milvus Lite 3.2.2 reports it negated (its internal distance), Milvus as is.
          return res.results.map((r) => toHit(r, Math.abs(r.score)));
        }
        // Each route returns topK candidates, filtered to the tenant, and Milvus fuses them. relative-score: each
        // half's score squashed into [0, 1] by a fixed function of the metric (norm_score; the SDK leaves it out and
        // Milvus Lite then sums raw scores, letting BM25 swamp a cosine), then weighed by alpha and 1 - alpha.
        const res = check(
          await conn().hybridSearch({
            collection_name: idx.collection,
            data: [
              { anns_field: 'vector', data: Array.from(query.vector), params: { ef: Math.max(64, opts.topK) }, expr: filter },
              { ...keyword, expr: filter },
            ],
            limit: opts.topK,
            rerank:
              query.fusion === 'rrf'
                ? RRFRanker(RRF_K)
                : { strategy: 'weighted', params: { weights: [query.alpha, 1 - query.alpha], norm_score: true } },
            output_fields,
            consistency_level: strong,
          }),
          `hybridSearch ${idx.collection}`,
        );
        return res.results.map((r) => toHit(r, r.score));
      });
    },

    async scanChunks(
      index: string,
      opts: { tenant: string; limit: number; cursor?: string; deletedSince?: number },
    ): Promise<ChunkPage> {
      checkScanOptions(index, opts, MAX_SCAN_PAGE);
      const { tenant, limit } = opts;
      let at: ScanCursor | undefined = opts.cursor === undefined ? undefined : parseScanCursor(index, opts.cursor);
      return withIndex(index, 'scanChunks', async ({ collection }) => {
        const query = async (filter: string, output_fields: string[], limit?: number) =>
          check(
            await conn().query({
              collection_name: collection,
              filter,
              output_fields,
              consistency_level: strong,
              ...(limit === undefined ? {} : { limit }),
            }),
            `query ${collection}`,
          ).data;
        // Rows a range should hold: under a page, so that one range usually makes a page without running over.
        const target = Math.max(1, Math.floor((limit * 3) / 4));
        // A reply of this many rows is no whole range (offset + limit stays within Milvus's window of 16,384).
        const cap = Math.min(4 * limit, MAX_SCAN_PAGE - 1) + 1;
        let queries = 0;
        if (!at) {
          const n = Number((await query(`tenant == ${milvusString(tenant)}`, ['count(*)']))[0]?.['count(*)'] ?? 0);
          queries++;
          if (n === 0) return { chunks: [] };
          at = { p: 0, w: Math.min(SCAN_POSITIONS, Math.max(1, Math.floor((SCAN_POSITIONS / n) * target))) };
        }
        const chunks: ScannedChunk[] = [];
        while (at && chunks.length < Math.ceil(limit / 2) && queries < MAX_SCAN_QUERIES) {
          const bunched = at.w === 1;
          const rows = (await query(rangeFilter(tenant, at), ['id', 'source_uri'], bunched ? undefined : cap))
            .map((r) => ({ id: String(r.id), sourceUri: String(r.source_uri ?? '') }))
            .sort((x, y) => byBytes(x.id, y.id));
          queries++;
          if (!bunched && rows.length >= cap) {
            // More than a range should hold: read a sixteenth of it instead, from where the last page ended if it did
            // inside this range (everything up to that id came back already).
            const p: number = at.a === undefined ? at.p : Math.max(at.p, positionOf(at.a));
            at = { ...at, p, w: Math.max(1, Math.floor(at.w / 16)) };
            continue;
          }
          const room = limit - chunks.length;
          chunks.push(...rows.slice(0, room));
          if (rows.length > room) {
            // The page ends inside this range: the next one continues after its last id.
            at = { ...at, a: chunks[chunks.length - 1]!.id };
            break;
          }
          const p: number = at.p + at.w;
          if (p >= SCAN_POSITIONS) {
            at = undefined;
            break;
          }
          // The next range's width follows the rows this one held (a continued range says less: its width stays).
          const w =
            at.a !== undefined ? at.w : Math.round(at.w * Math.min(4, Math.max(1 / 4, target / Math.max(rows.length, 1))));
          const next: ScanCursor = { p, w: Math.min(SCAN_POSITIONS - p, Math.max(1, w)) };
          // An id the last page ended on may lie beyond where a narrowed range ended: nothing up to it comes back again.
          const lo: string = positionText(p)!;
          at = at.a !== undefined && byBytes(at.a, lo) >= 0 ? { ...next, a: at.a } : next;
        }
        return at ? { chunks, cursor: JSON.stringify(at) } : { chunks };
      });
    },

    async findIds(index: string, tenant: string, chunks: ScannedChunk[]): Promise<string[]> {
      const ids = [...new Set(chunks.map((ch) => ch.id))];
      if (ids.length === 0) return [];
      return withIndex(index, 'findIds', async ({ collection }) => {
        const out: string[] = [];
        for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
          const batch = ids.slice(i, i + IDS_PER_QUERY);
          const res = check(
            await conn().query({
              collection_name: collection,
              filter: `tenant == ${milvusString(tenant)} && id in [${batch.map(milvusString).join(', ')}]`,
              output_fields: ['id'],
              consistency_level: strong,
            }),
            `query ${collection}`,
          );
          out.push(...res.data.map((r) => String(r.id)));
        }
        return out;
      });
    },

    async hasIndex(index: string): Promise<boolean> {
      // An alias's name resolves to the collection it points at, which belongs to another index: not an index here.
      return admin(`hasIndex ${index}`, async () => ownIndexFound(describe(index)));
    },

    async getAlias(alias: string): Promise<string | undefined> {
      const name = milvusCollectionName(alias);
      return admin(`getAlias ${alias}`, async () => {
        const collection = await aliasTarget(name);
        if (collection === undefined) return undefined;
        const owner = await ownerOf(collection);
        if (owner === undefined) throw rejected(`milvus alias ${name} points at collection ${collection}, which is gone`);
        return owner;
      });
    },

    async setAlias(alias: string, index: string): Promise<void> {
      const name = milvusCollectionName(alias);
      const collection = milvusCollectionName(index);
      if (name === collection) throw invalid(`setAlias ${alias}: an alias cannot point at an index of its own name`);
      await admin(`setAlias ${alias} -> ${index}`, async () => {
        if ((await aliasTarget(collection)) !== undefined) throw invalid(`setAlias ${alias}: ${index} is an alias, not an index`);
        const owner = await ownerOf(collection);
        if (owner === undefined) throw invalid(`setAlias ${alias}: index ${index} does not exist`);
        if (owner !== index) throw rejected(`milvus collection ${collection} belongs to index ${owner}, not ${index}`);
        const current = await aliasTarget(name);
        if (current === collection) return;
        if (current === undefined) {
          const exists = check(await conn().hasCollection({ collection_name: name }), `hasCollection ${name}`).value;
          if (exists) {
            throw invalid(`setAlias ${alias}: ${name} is the name of an existing collection`);
          }
          const res = await conn().createAlias({ alias: name, collection_name: collection });
          // Created by another caller in between: move it like an existing one.
          if (!/already exists/i.test(res.reason)) return void check(res, `createAlias ${name}`);
        }
        // alterAlias moves the alias in one step: a reader resolves the old collection or the new one.
        check(await conn().alterAlias({ alias: name, collection_name: collection }), `alterAlias ${name}`);
      });
    },

    async deleteAlias(alias: string): Promise<void> {
      const name = milvusCollectionName(alias);
      await admin(`deleteAlias ${alias}`, async () => {
        // Only an alias is dropped: dropAlias of a collection's name is left to the server's judgement otherwise.
        if ((await aliasTarget(name)) === undefined) return;
        check(await conn().dropAlias({ alias: name }), `dropAlias ${name}`);
      });
    },

    async dropIndex(index: string): Promise<void> {
      const collection = milvusCollectionName(index);
      await admin(`dropIndex ${index}`, async () => {
        const target = await aliasTarget(collection);
        if (target !== undefined)
          throw invalid(`dropIndex ${index}: that name is an alias (of ${target}); deleteAlias removes it`);
        const owner = await ownerOf(collection);
        if (owner === undefined) return;
        if (owner !== index) throw rejected(`milvus collection ${collection} belongs to index ${owner}, not ${index}`);
        const aliases = check(await conn().listAliases({ collection_name: collection }), `listAliases ${collection}`).aliases;
        if (aliases.length > 0) {
          throw invalid(`dropIndex ${index}: aliases ${aliases.join(', ')} point at it; move or delete them first`);
        }
        // After this sink's pending writes to the collection, so none of them lands on a dropped one.
        await serialized(collection, async () => {
          const res = await conn().dropCollection({ collection_name: collection });
          if (!/not exist|not found/i.test(res.reason)) check(res, `dropCollection ${collection}`);
        });
        indexes.delete(index);
      });
    },

    async close(): Promise<void> {
      indexes.clear();
      const old = client;
      client = undefined;
      await old?.closeConnection().catch(() => undefined);
    },
  };
}
