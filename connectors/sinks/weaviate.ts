import weaviate, { Filters, type Collection, type FilterValue, type WeaviateClient } from 'weaviate-client';
import { WeaviateSinkConfig } from './weaviate.config.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { trustCertificateAuthority } from '../shared/tls.ts';
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

// Layout: one Weaviate collection (class) per index, with our tenants as a `tenant` property that every read and delete
// filters on. Weaviate's native multi-tenancy (a shard per tenant) is the alternative; it isolates tenants physically
// but every tenant must be created before its first write and each one is a shard to activate and keep, which does
// not suit tenants that appear with their first document. The metadata properties use `field` tokenization: the
// default `word` tokenization splits and lowercases values and drops stopwords, so an exact filter on tenant 'a' would
// fail ('a' is a stopword) and 'Doc://A' would match 'doc://a'. (`field` still trims surrounding whitespace.)
// Weaviate keeps no vector dimension in the schema (the first vector written fixes it), so ensureIndex writes the
// dimension, with the index name, into the collection description and checks both on every later ensureIndex; a
// stored vector could not answer for an empty collection.
//
// Index versions use Weaviate's native collection aliases (Weaviate >= 1.32): an alias update moves it in one schema
// change, and reads through an alias name reach the class it points at. Alias names map to class names like index
// names do (so 'docs' and 'Docs' are one alias); the alias's target class names its index in its description. Weaviate
// deletes a class that still has aliases and leaves them dangling, so dropIndex checks for aliases first.
//
// `heading_path` (JSON array text, records.ts) came later than the other properties. A collection made before it lacks
// it; ensureIndex and upsert add it (a schema change Weaviate allows on a live class) rather than let auto-schema guess
// it on the first write with `word` tokenization, or fail where auto-schema is off. Objects written before read back
// without a path.
//
// Scans (scanChunks) use the cursor API (`after`: the last uuid read), which walks the class in uuid order and reads
// only what it returns, but takes no filter (Weaviate 1.39 refuses `where` with `after`): the tenant is filtered here,
// so a page of one tenant among many may come back short or empty. Filtered keyset pages (as exactIds) would sort every
// match of the tenant on each page. Writes and deletes during a scan move no other object, so deletedSince is not needed.

export { WeaviateSinkConfig } from './weaviate.config.ts';

type Distance = 'cosine' | 'dot' | 'l2-squared';
const DISTANCE: Record<IndexSpec['metric'], Distance> = { cosine: 'cosine', dot: 'dot', l2: 'l2-squared' };

type Props = {
  text: string;
  tenant: string;
  source_uri: string;
  content_hash: string;
  pipeline_version: string;
  heading_path: string;
  chunk_index: number;
  start: number;
  end: number;
};
const PROPS = [
  'text',
  'tenant',
  'source_uri',
  'content_hash',
  'pipeline_version',
  'heading_path',
  'chunk_index',
  'start',
  'end',
] as const;
const HEADING_PATH = 'heading_path';
/** The largest scan page: Weaviate's QUERY_MAXIMUM_RESULTS default, which caps a cursor page too. */
const MAX_SCAN_PAGE = 10_000;
/** Cursor pages one scanChunks call reads at most while its tenant's chunks do not fill the page. */
const MAX_SCAN_READS = 10;
const KEYWORD = { dataType: 'text' as const, tokenization: 'field' as const, indexSearchable: false };

interface InsertObject {
  id: string;
  properties: Props;
  vectors: number[];
}

interface Index {
  col: Collection<Props>;
  dims: number;
  distance: Distance;
  /** False for a collection made before the heading_path property existed (until it is added). */
  headingPath: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The Weaviate class for an index name: class names match [A-Z][A-Za-z0-9_]*, so other characters become `_`. */
export function weaviateClassName(index: string): string {
  if (index.length === 0) throw invalid('an index name must not be empty');
  const safe = index.replace(/[^A-Za-z0-9_]/g, '_');
  const lettered = /^[A-Za-z]/.test(safe) ? safe : `Idx_${safe}`;
  return lettered[0]!.toUpperCase() + lettered.slice(1);
}

/** Weaviate reports gRPC failures and per-object batch errors only as text; the words in it tell transient from not. */
function classify(message: string): FailureType {
  if (/RESOURCE_EXHAUSTED|rate limit|too many requests/i.test(message)) return FailureType.RateLimited;
  if (/status code: 40[13]|UNAUTHENTICATED|PERMISSION_DENIED|unauthori[sz]ed|forbidden/i.test(message)) {
    return FailureType.SinkRejected;
  }
  if (
    /UNAVAILABLE|DEADLINE_EXCEEDED|ABORTED|CANCELLED|ECONNREFUSED|ECONNRESET|ETIMEDOUT|fetch failed|socket hang up|timed? ?out|read-only|shutting down/i.test(
      message,
    )
  ) {
    return FailureType.Unavailable;
  }
  if (
    /INVALID_ARGUMENT|NOT_FOUND|could not find class|does not exist|invalid|not supported|stopwords|do not match/i.test(message)
  ) {
    return FailureType.SinkRejected;
  }
  return FailureType.Unavailable;
}

/** The one place Weaviate client failures become ConnectorErrors; `what` names the operation for the message. */
export function mapWeaviateError(err: unknown, what: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const msg = `weaviate ${what}: ${e.name}: ${e.message}`;
  const fail = (type: FailureType) => new ConnectorError(type, msg, { cause: err });
  // REST replies carry their HTTP status: 429 is a rate limit, 5xx transient, any other 4xx (400, 401, 403, 404, 422) a refusal.
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 400) {
    if (code === 429) return fail(FailureType.RateLimited);
    return fail(code >= 500 ? FailureType.Unavailable : FailureType.SinkRejected);
  }
  if (e.name === 'WeaviateInvalidInputError' || e.name === 'WeaviateSerializationError') return fail(FailureType.InvalidInput);
  if (/^Weaviate(Unauthenticated|InsufficientPermissions|UnsupportedFeature)Error$/.test(e.name))
    return fail(FailureType.SinkRejected);
  return fail(classify(e.message));
}

function toProps(text: string, m: ChunkMetadata): Props {
  return { text, ...toStored(m) };
}

function fromProps(p: Partial<Props>): ChunkMetadata {
  return fromStored(p);
}

function score(distance: Distance, d: number): number {
  // Weaviate reports distances: cosine 1 - cos, dot the negated dot product, l2-squared the squared distance.
  return distance === 'cosine' ? 1 - d : -d;
}

/** What ensureIndex wrote into a class description: the index name and dimension. */
function readMeta(description: string | undefined): { index?: unknown; dims?: unknown } | undefined {
  try {
    return (JSON.parse(description ?? '') as { ragline?: { index?: unknown; dims?: unknown } }).ragline;
  } catch {
    return undefined;
  }
}

function ownerOf(description: string | undefined): string | undefined {
  const index = readMeta(description)?.index;
  return typeof index === 'string' ? index : undefined;
}

/** The uuid a scan cursor continues after ('' at the start); a cursor this sink did not make is refused. */
function scanAfter(index: string, cursor: string | undefined): string {
  if (cursor === undefined) return '';
  let after: unknown;
  try {
    after = (JSON.parse(cursor) as { after?: unknown }).after;
  } catch {
    after = undefined;
  }
  if (typeof after !== 'string' || !UUID.test(after)) {
    throw invalid(`scanChunks on ${index}: ${JSON.stringify(cursor)} is not a cursor of this sink`);
  }
  return after;
}

export function createWeaviateSink(config: WeaviateSinkConfig): Sink {
  const c = WeaviateSinkConfig.parse(config);
  if (c.ca) trustCertificateAuthority(c.ca, 'weaviate ca');
  const indexes = new Map<string, Index>();
  let connecting: Promise<WeaviateClient> | undefined;

  function connect(): Promise<WeaviateClient> {
    // The client checks the server on connect; a failed attempt is forgotten so the next call tries again.
    // Its gRPC calls retry UNAVAILABLE up to 5 times internally (fixed in the client, not configurable).
    connecting ??= weaviate
      .connectToCustom({
        httpHost: c.host,
        httpPort: c.port,
        httpSecure: c.secure,
        grpcHost: c.host,
        grpcPort: c.grpcPort,
        grpcSecure: c.secure,
        authCredentials: c.apiKey ? new weaviate.ApiKey(c.apiKey) : undefined,
        timeout: { query: c.queryTimeoutS, insert: c.insertTimeoutS, init: c.initTimeoutS },
      })
      .catch((err: unknown) => {
        connecting = undefined;
        throw err;
      });
    return connecting;
  }

  /** The index as its collection's config describes it; undefined when there is no such collection. */
  async function lookup(name: string): Promise<Index | undefined> {
    const className = weaviateClassName(name);
    const col = (await connect()).collections.use<string, Props>(className);
    const cfg = await col.config.get().catch((err: unknown) => {
      if ((err as { code?: unknown })?.code === 404) return undefined;
      throw err;
    });
    if (!cfg) return undefined;
    // The schema endpoint answers for an alias with the class it points at.
    if (cfg.name !== className) throw rejected(`weaviate name ${className} is an alias (of ${cfg.name}), not an index`);
    const meta = readMeta(cfg.description);
    if (typeof meta?.dims !== 'number') throw rejected(`weaviate collection ${className} was not created by ensureIndex`);
    if (meta.index !== name)
      throw rejected(`weaviate collection ${className} belongs to index ${String(meta.index)}, not ${name}`);
    const distance = (cfg.vectorizers.default?.indexConfig.distance ?? 'cosine') as Distance;
    const headingPath = cfg.properties.some((p) => p.name === HEADING_PATH);
    const idx = { col, dims: meta.dims, distance, headingPath };
    indexes.set(name, idx);
    return idx;
  }

  const notFound = (err: unknown) => (err as { code?: unknown })?.code === 404;

  /** The class an alias (a class name) points at; undefined when there is no such alias. */
  async function aliasTarget(aliasClass: string): Promise<string | undefined> {
    const a = await (
      await connect()
    ).alias
      .get(aliasClass)
      .catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err)));
    return a?.collection;
  }

  async function admin<T>(what: string, fn: (client: WeaviateClient) => Promise<T>): Promise<T> {
    try {
      return await fn(await connect());
    } catch (err) {
      throw mapWeaviateError(err, what);
    }
  }

  /**
   * The cached index, or its config read afresh: writes always read it, as a write to a class dropped since would
   * quietly re-create it through Weaviate's auto-schema, with guessed property types.
   */
  async function open(name: string, fresh = false): Promise<Index> {
    const known = fresh ? undefined : indexes.get(name);
    if (known) return known;
    const idx = await lookup(name);
    if (!idx)
      throw rejected(`weaviate collection ${weaviateClassName(name)} for index ${name} does not exist: ensureIndex creates it`);
    return idx;
  }

  /** Adds heading_path to a collection made before it existed; one racing another worker's add adopts theirs. */
  async function addHeadingPath(name: string, idx: Index): Promise<Index> {
    if (idx.headingPath) return idx;
    await idx.col.config.addProperty({ name: HEADING_PATH, ...KEYWORD }).catch(async (err: unknown) => {
      if (!(await lookup(name))?.headingPath) throw err;
    });
    const added = { ...idx, headingPath: true };
    indexes.set(name, added);
    return added;
  }

  async function create(spec: IndexSpec): Promise<void> {
    const client = await connect();
    await client.collections
      .create<Props>({
        name: weaviateClassName(spec.name),
        description: JSON.stringify({ ragline: { index: spec.name, dims: spec.dims } }),
        vectorizers: weaviate.configure.vectors.selfProvided({
          vectorIndexConfig: weaviate.configure.vectorIndex.hnsw({ distanceMetric: DISTANCE[spec.metric] }),
        }),
        properties: [
          { name: 'text', dataType: 'text' },
          { name: 'tenant', ...KEYWORD },
          { name: 'source_uri', ...KEYWORD },
          { name: 'content_hash', ...KEYWORD },
          { name: 'pipeline_version', ...KEYWORD },
          { name: HEADING_PATH, ...KEYWORD },
          { name: 'chunk_index', dataType: 'int' },
          { name: 'start', dataType: 'int' },
          { name: 'end', dataType: 'int' },
        ],
      })
      // Another worker created it first (422 "already exists"): use theirs, checked like any existing one.
      .catch((e: unknown) =>
        (e as { code?: unknown })?.code === 422 && /already exists/.test(String(e)) ? undefined : Promise.reject(e),
      );
  }

  async function withIndex<T>(name: string, what: string, fn: (idx: Index) => Promise<T>, fresh = false): Promise<T> {
    try {
      return await fn(await open(name, fresh));
    } catch (err) {
      throw mapWeaviateError(err, `${what} on ${name}`);
    }
  }

  /**
   * An object whose id exists is replaced whole, so a repeated upsert leaves one copy. Per-object failures come back as
   * data, not as a throw: those objects get one more try, then the call fails naming them.
   */
  async function insertBatch(col: Collection<Props>, index: string, objects: InsertObject[]): Promise<void> {
    let batch = objects;
    for (let attempt = 0; ; attempt++) {
      const res = await col.data.insertMany(batch);
      if (!res.hasErrors) return;
      const failed = Object.entries(res.errors).map(([k, e]) => ({ obj: batch[Number(k)]!, message: e.message }));
      if (attempt === 0) {
        batch = failed.map((f) => f.obj);
        continue;
      }
      const ids = failed.map((f) => f.obj.id);
      throw new ConnectorError(
        classify(failed[0]!.message),
        `weaviate upsert on ${index}: ${ids.length} objects failed twice: ` +
          `${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', ...' : ''} (first error: ${failed[0]!.message})`,
      );
    }
  }

  // `field` tokenization trims surrounding whitespace, so the filter also matches uris that differ only by it: the
  // filter narrows the candidates, and the stored value is compared exactly here (one document never takes another's
  // chunks along when it is deleted).
  function documentFilter(col: Collection<Props>, tenant: string | undefined, sourceUri: string): FilterValue {
    const uri = col.filter.byProperty('source_uri').equal(sourceUri);
    return tenant === undefined ? uri : Filters.and(col.filter.byProperty('tenant').equal(tenant), uri);
  }

  /** Ids of the document's objects whose stored tenant and uri equal these exactly, in keyset pages ordered by id. */
  async function exactIds(col: Collection<Props>, tenant: string | undefined, sourceUri: string): Promise<string[]> {
    // Keyset pages ordered by id: the cursor API (`after`) takes no filter, and offset paging stops at
    // QUERY_MAXIMUM_RESULTS (offset + limit, 10,000 by default). The client types `_id` comparisons as numbers only,
    // hence the casts; the server compares the UUID text.
    const doc = documentFilter(col, tenant, sourceUri);
    const out: string[] = [];
    for (let last: string | undefined; ;) {
      const after = last === undefined ? doc : Filters.and(doc, col.filter.byProperty('_id' as never).greaterThan(last as never));
      const res = await col.query.fetchObjects({
        filters: after,
        sort: col.sort.byId(),
        limit: c.pageSize,
        returnProperties: ['tenant', 'source_uri'],
      });
      for (const o of res.objects) {
        if (o.properties.source_uri === sourceUri && (tenant === undefined || o.properties.tenant === tenant)) out.push(o.uuid);
      }
      if (res.objects.length < c.pageSize) return out;
      last = res.objects[res.objects.length - 1]!.uuid;
    }
  }

  return {
    kind: 'weaviate',

    async ensureIndex(spec: IndexSpec): Promise<void> {
      if (!Number.isInteger(spec.dims) || spec.dims < 1) throw invalid(`index ${spec.name}: dims must be a positive integer`);
      const distance = DISTANCE[spec.metric];
      indexes.delete(spec.name);
      let idx: Index | undefined;
      try {
        idx = await lookup(spec.name);
        if (!idx) {
          // Another worker may create it at the same moment: if our create fails, adopt theirs when it is there.
          await create(spec).catch(async (err: unknown) => {
            if (!(await lookup(spec.name))) throw err;
          });
          idx = await open(spec.name, true);
        }
      } catch (err) {
        throw mapWeaviateError(err, `ensureIndex ${spec.name}`);
      }
      if (idx.dims !== spec.dims || idx.distance !== distance) {
        indexes.delete(spec.name);
        throw rejected(
          `weaviate collection ${weaviateClassName(spec.name)} exists with dims=${idx.dims} distance=${idx.distance}, not ` +
            `dims=${spec.dims} distance=${distance}: a new dimension or metric needs a new index version`,
        );
      }
      await addHeadingPath(spec.name, idx).catch((err: unknown) => {
        throw mapWeaviateError(err, `ensureIndex ${spec.name}: adding ${HEADING_PATH}`);
      });
    },

    async upsert(index: string, records: SinkRecord[]): Promise<void> {
      if (records.length === 0) return;
      await withIndex(
        index,
        'upsert',
        async (stale) => {
          const { col, dims } = await addHeadingPath(index, stale);
          // Validate everything first so a bad record leaves nothing of its call written. Repeated ids keep the last.
          const byId = new Map<string, SinkRecord>();
          for (const r of records) {
            const id = typeof r.id === 'string' ? r.id.toLowerCase() : '';
            if (!UUID.test(id)) throw invalid(`upsert on ${index}: record id ${String(r.id)} is not a UUID`);
            checkVector(r.vector, dims, `upsert ${r.id} on ${index}`);
            byId.set(id, r);
          }
          const objects = [...byId].map(([id, r]) => ({
            id,
            properties: toProps(r.text, r.metadata),
            vectors: Array.from(r.vector),
          }));
          const batches: (typeof objects)[] = [];
          for (let i = 0; i < objects.length; i += c.batchSize) batches.push(objects.slice(i, i + c.batchSize));
          // Workers take batches in turn; after a failure the others stop taking new ones.
          let next = 0;
          const worker = async () => {
            while (next < batches.length) {
              await insertBatch(col, index, batches[next++]!).catch((err: unknown) => {
                next = batches.length;
                throw err;
              });
            }
          };
          await Promise.all(Array.from({ length: Math.min(c.concurrency, batches.length) }, worker));
        },
        true,
      );
    },

    async deleteIds(index: string, ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      await withIndex(index, 'deleteIds', async ({ col }) => {
        for (let i = 0; i < ids.length; i += c.batchSize) {
          const batch = ids.slice(i, i + c.batchSize).map((id) => id.toLowerCase());
          const res = await col.data.deleteMany(col.filter.byId().containsAny(batch));
          if (res.failed > 0)
            throw new ConnectorError(FailureType.Unavailable, `weaviate deleteIds on ${index}: ${res.failed} deletes failed`);
        }
      });
    },

    async deleteDocument(index: string, tenant: string, sourceUri: string): Promise<void> {
      await withIndex(index, 'deleteDocument', async ({ col }) => {
        const ids = await exactIds(col, tenant, sourceUri);
        for (let i = 0; i < ids.length; i += c.batchSize) {
          const res = await col.data.deleteMany(col.filter.byId().containsAny(ids.slice(i, i + c.batchSize)));
          if (res.failed > 0)
            throw new ConnectorError(
              FailureType.Unavailable,
              `weaviate deleteDocument on ${index}: ${res.failed} deletes failed`,
            );
        }
      });
    },

    async count(index: string, filter: { tenant?: string; sourceUri?: string } = {}): Promise<number> {
      return withIndex(index, 'count', async ({ col }) => {
        if (filter.sourceUri !== undefined) return (await exactIds(col, filter.tenant, filter.sourceUri)).length;
        const terms: FilterValue[] = [];
        if (filter.tenant !== undefined) terms.push(col.filter.byProperty('tenant').equal(filter.tenant));
        const res = await col.aggregate.overAll({ filters: terms.length > 0 ? Filters.and(...terms) : undefined });
        return res.totalCount;
      });
    },

    async idsOfDocument(index: string, tenant: string, sourceUri: string): Promise<string[]> {
      return withIndex(index, 'idsOfDocument', async ({ col }) => exactIds(col, tenant, sourceUri));
    },

    async search(index: string, vector: Float32Array, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
      if (!Number.isInteger(opts.topK) || opts.topK < 0) throw invalid(`search on ${index}: topK must be a non-negative integer`);
      if (opts.topK === 0) return [];
      return withIndex(index, 'search', async ({ col, dims, distance, headingPath }) => {
        checkVector(vector, dims, `search on ${index}`);
        const res = await col.query.nearVector(Array.from(vector), {
          limit: opts.topK,
          filters: opts.tenant !== undefined ? col.filter.byProperty('tenant').equal(opts.tenant) : undefined,
          returnMetadata: ['distance'],
          // Asking a collection made before heading_path existed for it fails the query.
          returnProperties: headingPath ? [...PROPS] : PROPS.filter((p) => p !== HEADING_PATH),
        });
        return res.objects.map((o) => ({
          id: o.uuid,
          score: score(distance, o.metadata?.distance ?? Number.POSITIVE_INFINITY),
          text: String(o.properties.text ?? ''),
          metadata: fromProps(o.properties),
        }));
      });
    },

    async hybridSearch(index: string, query: HybridQuery, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
      if (!Number.isInteger(opts.topK) || opts.topK < 0) throw invalid(`search on ${index}: topK must be a non-negative integer`);
      checkHybridQuery(index, query);
      if (opts.topK === 0) return [];
      return withIndex(index, 'hybridSearch', async ({ col, dims, headingPath }) => {
        checkVector(query.vector, dims, `hybrid search on ${index}`);
        // BM25F over the chunk text only (the metadata properties are `field`-tokenized and not searchable), fused
        // with the vector search by Weaviate itself.
        const res = await col.query.hybrid(query.text, {
          vector: Array.from(query.vector),
          alpha: query.alpha,
          fusionType: query.fusion === 'rrf' ? 'Ranked' : 'RelativeScore',
          queryProperties: ['text'],
          limit: opts.topK,
          filters: opts.tenant !== undefined ? col.filter.byProperty('tenant').equal(opts.tenant) : undefined,
          returnMetadata: ['score'],
          returnProperties: headingPath ? [...PROPS] : PROPS.filter((p) => p !== HEADING_PATH),
        });
        return res.objects.map((o) => ({
          id: o.uuid,
          score: o.metadata?.score ?? 0,
          text: String(o.properties.text ?? ''),
          metadata: fromProps(o.properties),
        }));
      });
    },

    async scanChunks(
      index: string,
      opts: { tenant: string; limit: number; cursor?: string; deletedSince?: number },
    ): Promise<ChunkPage> {
      checkScanOptions(index, opts, MAX_SCAN_PAGE);
      const { tenant, limit } = opts;
      let after = scanAfter(index, opts.cursor);
      return withIndex(index, 'scanChunks', async ({ col }) => {
        const chunks: ScannedChunk[] = [];
        for (let reads = 0; reads < MAX_SCAN_READS; reads++) {
          const res = await col.query.fetchObjects({ after, limit, returnProperties: ['tenant', 'source_uri'] });
          for (const o of res.objects) {
            // Exact: the tenant property's `field` tokenization would match values differing in surrounding spaces.
            if (o.properties.tenant === tenant) chunks.push({ id: o.uuid, sourceUri: String(o.properties.source_uri ?? '') });
            after = o.uuid;
            // The page is full: the next one starts after this object (the rest of this read is read again).
            if (chunks.length === limit) return { chunks, cursor: JSON.stringify({ after }) };
          }
          if (res.objects.length < limit) return { chunks };
        }
        return { chunks, cursor: JSON.stringify({ after }) };
      });
    },

    async findIds(index: string, tenant: string, chunks: ScannedChunk[]): Promise<string[]> {
      // Weaviate keeps uuids in lowercase; an id that is no uuid cannot be there. The caller gets its own spelling back.
      if (chunks.length === 0) return [];
      const asked = new Map<string, string>();
      for (const { id } of chunks) if (UUID.test(id.toLowerCase())) asked.set(id.toLowerCase(), id);
      const ids = [...asked.keys()];
      return withIndex(index, 'findIds', async ({ col }) => {
        const size = Math.min(c.pageSize, MAX_SCAN_PAGE);
        const out: string[] = [];
        for (let i = 0; i < ids.length; i += size) {
          const batch = ids.slice(i, i + size);
          const res = await col.query.fetchObjects({
            filters: Filters.and(col.filter.byId().containsAny(batch), col.filter.byProperty('tenant').equal(tenant)),
            limit: batch.length,
            returnProperties: ['tenant'],
          });
          for (const o of res.objects) if (o.properties.tenant === tenant) out.push(asked.get(o.uuid) ?? o.uuid);
        }
        return out;
      });
    },

    async hasIndex(index: string): Promise<boolean> {
      // An alias's name resolves to the collection it points at, which belongs to another index: not an index here.
      return admin(`hasIndex ${index}`, async () => ownIndexFound(lookup(index)));
    },

    async getAlias(alias: string): Promise<string | undefined> {
      const aliasClass = weaviateClassName(alias);
      return admin(`getAlias ${alias}`, async (client) => {
        const target = await aliasTarget(aliasClass);
        if (target === undefined) return undefined;
        const cfg = await client.collections
          .use(target)
          .config.get()
          .catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err)));
        if (!cfg) throw rejected(`weaviate alias ${aliasClass} points at class ${target}, which is gone`);
        const index = ownerOf(cfg.description);
        if (index === undefined)
          throw rejected(`weaviate alias ${aliasClass} points at class ${target}, not made by ensureIndex`);
        return index;
      });
    },

    async setAlias(alias: string, index: string): Promise<void> {
      const aliasClass = weaviateClassName(alias);
      const targetClass = weaviateClassName(index);
      if (aliasClass === targetClass) throw invalid(`setAlias ${alias}: an alias cannot point at an index of its own name`);
      await admin(`setAlias ${alias} -> ${index}`, async (client) => {
        if ((await aliasTarget(targetClass)) !== undefined)
          throw invalid(`setAlias ${alias}: ${index} is an alias, not an index`);
        if (!(await lookup(index))) throw invalid(`setAlias ${alias}: index ${index} does not exist`);
        // Weaviate refuses an alias named like a class only with a 500, and `exists` does not see aliases.
        if (await client.collections.exists(aliasClass)) {
          throw invalid(`setAlias ${alias}: ${aliasClass} is the class of an existing index`);
        }
        const current = await aliasTarget(aliasClass);
        if (current === targetClass) return;
        if (current === undefined) {
          const created = await client.alias.create({ alias: aliasClass, collection: targetClass }).then(
            () => true,
            // Created by another caller in between (422 "alias already exists"): move it like an existing one.
            (err: unknown) =>
              (err as { code?: unknown })?.code === 422 && /alias already exists/.test(String(err)) ? false : Promise.reject(err),
          );
          if (created) return;
        }
        // One schema change: a reader resolves the old class or the new one.
        await client.alias.update({ alias: aliasClass, newTargetCollection: targetClass });
      });
    },

    async deleteAlias(alias: string): Promise<void> {
      const aliasClass = weaviateClassName(alias);
      await admin(`deleteAlias ${alias}`, (client) =>
        client.alias.delete(aliasClass).catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err))),
      );
    },

    async dropIndex(index: string): Promise<void> {
      const className = weaviateClassName(index);
      await admin(`dropIndex ${index}`, async (client) => {
        const target = await aliasTarget(className);
        if (target !== undefined)
          throw invalid(`dropIndex ${index}: that name is an alias (of ${target}); deleteAlias removes it`);
        indexes.delete(index);
        if (!(await lookup(index))) return;
        const aliases = (await client.alias.listAll({ collection: className })) ?? [];
        if (aliases.length > 0) {
          throw invalid(
            `dropIndex ${index}: aliases ${aliases.map((a) => a.alias).join(', ')} point at it; move or delete them first`,
          );
        }
        await client.collections.delete(className);
        indexes.delete(index);
      });
    },

    async close(): Promise<void> {
      const pending = connecting;
      connecting = undefined;
      indexes.clear();
      await pending?.then((client) => client.close()).catch(() => undefined);
    },
  };
}
