import {
  ChromaClient,
  ChromaConnectionError,
  ChromaQuotaExceededError,
  ChromaRateLimitError,
  ChromaServerError,
  ChromaValueError,
  InvalidArgumentError,
  InvalidCollectionError,
  type Collection,
  type Metadata,
  type Where,
} from 'chromadb';
import { ChromaSinkConfig } from './chroma.config.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { trustCertificateAuthority } from '../shared/tls.ts';
import type { ChunkMetadata, ChunkPage, IndexSpec, ScannedChunk, SearchHit, Sink, SinkRecord } from './sink.ts';
import { checkVector, fromStored, invalid, toStored, checkScanOptions } from './records.ts';

// Layout: one Chroma collection per index (pipeline and index version); our tenants are a metadata field `tenant`
// that every read and delete filters on. A collection per tenant would multiply HNSW indexes (and their memory) by the
// number of tenants, and Chroma's own tenants/databases are an account-level split, not something to create per
// customer on the fly. Chroma keeps no dimension it will report, so ensureIndex stores it as collection metadata
// `{ dims }` and compares it on every later ensureIndex.
//
// Index versions: Chroma has no aliases, so an alias is a stored pointer, an empty collection named like the alias
// whose only metadata is `{ ragline_alias: <index> }`. Moving it is one metadata write (`modify` replaces the
// metadata whole), so a reader resolves the old index or the new one, never neither; and as aliases and indexes are
// both collections, one name can never be both. dropIndex lists the collections to find aliases pointing at the index:
// a setAlias racing a dropIndex of its target can still lose (the orchestration moves aliases long before it drops).
//
// Scans (scanChunks) page by offset: `get` returns rows in the collection's insertion order (an upsert of an existing
// id keeps its place, checked against Chroma 1.0), so rows written during a scan land after it and cannot push others
// forward, but deleting rows an earlier page returned moves every later row back by one; the caller reports those
// deletes (`deletedSince`) and the next page starts that much earlier. The cursor is `{"offset":n}`.

export { ChromaSinkConfig } from './chroma.config.ts';

type Space = 'cosine' | 'ip' | 'l2';
const ALIAS = 'ragline_alias';
const SPACE: Record<IndexSpec['metric'], Space> = { cosine: 'cosine', dot: 'ip', l2: 'l2' };
/** The largest scan page: Chroma sets no limit of its own, this bounds one reply's size. */
const MAX_SCAN_PAGE = 10_000;

interface Index {
  col: Collection;
  dims: number;
  space: Space;
}

/** The one place Chroma and HTTP failures become ConnectorErrors; `what` names the operation for the message. */
export function mapChromaError(err: unknown, what: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const msg = `chroma ${what}: ${e.name}: ${e.message}`;
  const fail = (type: FailureType) => new ConnectorError(type, msg, { cause: err });
  if (e instanceof ChromaRateLimitError) return fail(FailureType.RateLimited);
  if (e instanceof ChromaQuotaExceededError) return fail(FailureType.SinkRejected);
  // Connection refused, DNS, resets and 5xx: the server may be back on the next attempt.
  if (e instanceof ChromaConnectionError || e instanceof ChromaServerError) return fail(FailureType.Unavailable);
  // Raised by the client before any request: our call was malformed.
  if (e instanceof ChromaValueError || e instanceof InvalidArgumentError || e instanceof InvalidCollectionError) {
    return fail(FailureType.InvalidInput);
  }
  // The chromadb client raises a named Error for every other 4xx (400, 401, 403, 404, 409, 422).
  if (/^Chroma\w*Error$/.test(e.name)) return fail(FailureType.SinkRejected);
  // Anything else (aborted or reset fetches, unexpected replies) is taken as transient; retry policies bound the attempts.
  return fail(FailureType.Unavailable);
}

function toMetadata(m: ChunkMetadata): Metadata {
  return { ...toStored(m) };
}

function fromMetadata(m: Metadata | null | undefined): ChunkMetadata {
  return fromStored(m ?? {});
}

function score(space: Space, distance: number): number {
  // Chroma reports distances: cosine 1 - cos, ip 1 - dot, l2 the squared distance. Higher scores are nearer.
  return space === 'l2' ? -distance : 1 - distance;
}

/** The offset a scan cursor holds; a cursor this sink did not make is refused. */
function scanOffset(index: string, cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  let offset: unknown;
  try {
    offset = (JSON.parse(cursor) as { offset?: unknown }).offset;
  } catch {
    offset = undefined;
  }
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw invalid(`scanChunks on ${index}: ${JSON.stringify(cursor)} is not a cursor of this sink`);
  }
  return offset as number;
}

function documentWhere(tenant: string, sourceUri: string): Where {
  return { $and: [{ tenant }, { source_uri: sourceUri }] };
}

export function createChromaSink(config: ChromaSinkConfig): Sink {
  const c = ChromaSinkConfig.parse(config);
  if (c.ca) trustCertificateAuthority(c.ca, 'chroma ca');
  const headers: Record<string, string> = {};
  if (c.authToken) headers[c.authHeader] = c.authHeader === 'authorization' ? `Bearer ${c.authToken}` : c.authToken;
  const client = new ChromaClient({ host: c.host, port: c.port, ssl: c.ssl, tenant: c.tenant, database: c.database, headers });
  const indexes = new Map<string, Index>();
  let maxBatch: Promise<number> | undefined;

  async function batchSize(): Promise<number> {
    maxBatch ??= client.getMaxBatchSize().then(
      (n) => (n > 0 ? n : 1000),
      (err: unknown) => {
        maxBatch = undefined;
        throw err;
      },
    );
    return maxBatch;
  }

  function adopt(name: string, col: Collection): Index {
    const dims = col.metadata?.dims;
    const target = col.metadata?.[ALIAS];
    if (typeof target === 'string') {
      throw new ConnectorError(FailureType.SinkRejected, `chroma name ${name} is an alias (of index ${target}), not an index`);
    }
    const space = (col.configuration.hnsw?.space ?? col.configuration.spann?.space ?? 'l2') as Space;
    if (typeof dims !== 'number') {
      throw new ConnectorError(
        FailureType.SinkRejected,
        `chroma collection ${name} has no dims metadata: it was not created by ensureIndex`,
      );
    }
    const idx = { col, dims, space };
    indexes.set(name, idx);
    return idx;
  }

  async function open(name: string): Promise<Index> {
    const known = indexes.get(name);
    if (known) return known;
    return adopt(name, await client.getCollection({ name }));
  }

  /** Runs `fn` on the index; a cached handle whose collection was dropped and re-created is looked up once more. */
  async function withIndex<T>(name: string, what: string, fn: (idx: Index) => Promise<T>): Promise<T> {
    try {
      const cached = indexes.has(name);
      try {
        return await fn(await open(name));
      } catch (err) {
        if (!cached || (err as Error)?.name !== 'ChromaNotFoundError') throw err;
        indexes.delete(name);
        return await fn(await open(name));
      }
    } catch (err) {
      throw mapChromaError(err, `${what} on ${name}`);
    }
  }

  /** The collection of that name, or undefined. */
  async function find(name: string): Promise<Collection | undefined> {
    return client
      .getCollection({ name })
      .catch((err: unknown) => ((err as Error)?.name === 'ChromaNotFoundError' ? undefined : Promise.reject(err)));
  }

  const aliasOf = (col: Collection | undefined): string | undefined => {
    const target = col?.metadata?.[ALIAS];
    return typeof target === 'string' ? target : undefined;
  };

  /** The aliases pointing at `index`, found by listing every collection (Chroma cannot filter collections by metadata). */
  async function aliasesOf(index: string): Promise<string[]> {
    const out: string[] = [];
    for (let offset = 0; ; offset += c.pageSize) {
      const cols = await client.listCollections({ limit: c.pageSize, offset });
      for (const col of cols) if (aliasOf(col) === index) out.push(col.name);
      if (cols.length < c.pageSize) return out;
    }
  }

  async function admin<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapChromaError(err, what);
    }
  }

  /** Every page of ids matching `where`, in Chroma's storage order. */
  async function* pages(col: Collection, where: Where): AsyncGenerator<string[]> {
    for (let offset = 0; ; offset += c.pageSize) {
      const res = await col.get({ where, include: [], limit: c.pageSize, offset });
      if (res.ids.length > 0) yield res.ids;
      if (res.ids.length < c.pageSize) return;
    }
  }

  return {
    kind: 'chroma',

    async ensureIndex(spec: IndexSpec): Promise<void> {
      if (!Number.isInteger(spec.dims) || spec.dims < 1) throw invalid(`index ${spec.name}: dims must be a positive integer`);
      const space = SPACE[spec.metric];
      let idx: Index;
      try {
        indexes.delete(spec.name);
        idx = await open(spec.name).catch(async (err: unknown) => {
          if ((err as Error)?.name !== 'ChromaNotFoundError') throw err;
          // Not get-or-create: that would leave an existing collection's dims and space unchecked or overwritten.
          const col = await client
            .createCollection({
              name: spec.name,
              embeddingFunction: null,
              configuration: { hnsw: { space } },
              metadata: { dims: spec.dims },
            })
            // Another worker created it first (409): use theirs, checked below like any existing one.
            .catch((e: unknown) =>
              (e as Error)?.name === 'ChromaUniqueError' ? client.getCollection({ name: spec.name }) : Promise.reject(e),
            );
          return adopt(spec.name, col);
        });
      } catch (err) {
        throw mapChromaError(err, `ensureIndex ${spec.name}`);
      }
      if (idx.dims !== spec.dims || idx.space !== space) {
        indexes.delete(spec.name);
        throw new ConnectorError(
          FailureType.SinkRejected,
          `chroma collection ${spec.name} exists with dims=${idx.dims} space=${idx.space}, not dims=${spec.dims} space=${space}: ` +
            'a new dimension or metric needs a new index version',
        );
      }
    },

    async upsert(index: string, records: SinkRecord[]): Promise<void> {
      if (records.length === 0) return;
      await withIndex(index, 'upsert', async ({ col, dims }) => {
        // Validate everything first so a bad record leaves nothing of its call written. Repeated ids keep the last.
        const byId = new Map<string, SinkRecord>();
        for (const r of records) {
          if (typeof r.id !== 'string' || r.id.length === 0) throw invalid(`upsert on ${index}: a record has no id`);
          checkVector(r.vector, dims, `upsert ${r.id} on ${index}`);
          byId.set(r.id, r);
        }
        const rows = [...byId.values()];
        const size = await batchSize();
        for (let i = 0; i < rows.length; i += size) {
          const batch = rows.slice(i, i + size);
          await col.upsert({
            ids: batch.map((r) => r.id),
            embeddings: batch.map((r) => Array.from(r.vector)),
            documents: batch.map((r) => r.text),
            metadatas: batch.map((r) => toMetadata(r.metadata)),
          });
        }
      });
    },

    async deleteIds(index: string, ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      await withIndex(index, 'deleteIds', async ({ col }) => {
        const size = await batchSize();
        for (let i = 0; i < ids.length; i += size) await col.delete({ ids: ids.slice(i, i + size) });
      });
    },

    async deleteDocument(index: string, tenant: string, sourceUri: string): Promise<void> {
      await withIndex(index, 'deleteDocument', async ({ col }) => {
        await col.delete({ where: documentWhere(tenant, sourceUri) });
      });
    },

    async count(index: string, filter: { tenant?: string; sourceUri?: string } = {}): Promise<number> {
      return withIndex(index, 'count', async ({ col }) => {
        const terms: Where[] = [];
        if (filter.tenant !== undefined) terms.push({ tenant: filter.tenant });
        if (filter.sourceUri !== undefined) terms.push({ source_uri: filter.sourceUri });
        if (terms.length === 0) return col.count();
        // Chroma counts only whole collections; a filtered count pages through the matching ids.
        let n = 0;
        for await (const ids of pages(col, terms.length === 1 ? terms[0]! : { $and: terms })) n += ids.length;
        return n;
      });
    },

    async idsOfDocument(index: string, tenant: string, sourceUri: string): Promise<string[]> {
      return withIndex(index, 'idsOfDocument', async ({ col }) => {
        const out: string[] = [];
        for await (const ids of pages(col, documentWhere(tenant, sourceUri))) out.push(...ids);
        return out;
      });
    },

    async search(index: string, vector: Float32Array, opts: { topK: number; tenant?: string }): Promise<SearchHit[]> {
      if (!Number.isInteger(opts.topK) || opts.topK < 0) throw invalid(`search on ${index}: topK must be a non-negative integer`);
      if (opts.topK === 0) return [];
      return withIndex(index, 'search', async ({ col, dims, space }) => {
        checkVector(vector, dims, `search on ${index}`);
        const res = await col.query({
          queryEmbeddings: [Array.from(vector)],
          nResults: opts.topK,
          where: opts.tenant !== undefined ? { tenant: opts.tenant } : undefined,
          include: ['documents', 'metadatas', 'distances'],
        });
        const ids = res.ids[0] ?? [];
        return ids.map((id, i) => ({
          id,
          score: score(space, res.distances[0]?.[i] ?? Number.POSITIVE_INFINITY),
          text: res.documents[0]?.[i] ?? '',
          metadata: fromMetadata(res.metadatas[0]?.[i]),
        }));
      });
    },

    async scanChunks(
      index: string,
      opts: { tenant: string; limit: number; cursor?: string; deletedSince?: number },
    ): Promise<ChunkPage> {
      const deletedSince = checkScanOptions(index, opts, MAX_SCAN_PAGE);
      const { limit } = opts;
      // The rows the caller deleted sat before the cursor: every later row moved back by that many.
      const offset = Math.max(0, scanOffset(index, opts.cursor) - deletedSince);
      return withIndex(index, 'scanChunks', async ({ col }) => {
        const res = await col.get({ where: { tenant: opts.tenant }, include: ['metadatas'], limit, offset });
        const chunks = res.ids.map((id, i) => ({ id, sourceUri: fromMetadata(res.metadatas[i]).sourceUri }));
        // A full page may be the last one: the next call then finds nothing and ends the scan.
        return chunks.length < limit ? { chunks } : { chunks, cursor: JSON.stringify({ offset: offset + chunks.length }) };
      });
    },

    async findIds(index: string, tenant: string, chunks: ScannedChunk[]): Promise<string[]> {
      const ids = [...new Set(chunks.map((ch) => ch.id))];
      if (ids.length === 0) return [];
      return withIndex(index, 'findIds', async ({ col }) => {
        const size = await batchSize();
        const out: string[] = [];
        for (let i = 0; i < ids.length; i += size) {
          out.push(...(await col.get({ ids: ids.slice(i, i + size), where: { tenant }, include: [] })).ids);
        }
        return out;
      });
    },

    async hasIndex(index: string): Promise<boolean> {
      // An alias is a pointer collection here: only a collection ensureIndex made (it records dims) is an index.
      return admin(`hasIndex ${index}`, async () => {
        const col = await find(index);
        return aliasOf(col) === undefined && typeof col?.metadata?.dims === 'number';
      });
    },

    async getAlias(alias: string): Promise<string | undefined> {
      return admin(`getAlias ${alias}`, async () => aliasOf(await find(alias)));
    },

    async setAlias(alias: string, index: string): Promise<void> {
      if (alias === index) throw invalid(`setAlias ${alias}: an alias cannot point at an index of its own name`);
      await admin(`setAlias ${alias} -> ${index}`, async () => {
        const target = await find(index);
        if (aliasOf(target) !== undefined) throw invalid(`setAlias ${alias}: ${index} is an alias, not an index`);
        if (typeof target?.metadata?.dims !== 'number') throw invalid(`setAlias ${alias}: index ${index} does not exist`);
        const metadata = { [ALIAS]: index };
        let col = await find(alias);
        if (!col) {
          const made = await client.createCollection({ name: alias, embeddingFunction: null, metadata }).then(
            () => true,
            // Made by another caller in between: checked and moved below like an existing one.
            (e: unknown) => ((e as Error)?.name === 'ChromaUniqueError' ? false : Promise.reject(e)),
          );
          if (made) return;
          col = await client.getCollection({ name: alias });
        }
        if (aliasOf(col) === undefined) throw invalid(`setAlias ${alias}: ${alias} is the name of an existing index`);
        if (aliasOf(col) !== index) await col.modify({ metadata });
      });
    },

    async deleteAlias(alias: string): Promise<void> {
      await admin(`deleteAlias ${alias}`, async () => {
        // Only a pointer collection is deleted: the name of an index is no alias, so there is nothing to remove.
        if (aliasOf(await find(alias)) === undefined) return;
        await client.deleteCollection({ name: alias }).catch((e: unknown) => {
          if ((e as Error)?.name !== 'ChromaNotFoundError') throw e;
        });
      });
    },

    async dropIndex(index: string): Promise<void> {
      await admin(`dropIndex ${index}`, async () => {
        indexes.delete(index);
        const col = await find(index);
        if (!col) return;
        const target = aliasOf(col);
        if (target !== undefined)
          throw invalid(`dropIndex ${index}: that name is an alias (of ${target}); deleteAlias removes it`);
        adopt(index, col);
        indexes.delete(index);
        const aliases = await aliasesOf(index);
        if (aliases.length > 0) {
          throw invalid(`dropIndex ${index}: aliases ${aliases.join(', ')} point at it; move or delete them first`);
        }
        await client.deleteCollection({ name: index }).catch((e: unknown) => {
          if ((e as Error)?.name !== 'ChromaNotFoundError') throw e;
        });
      });
    },

    async close(): Promise<void> {
      // The client holds no connections of its own (it uses fetch); forget the cached handles.
      indexes.clear();
    },
  };
}
