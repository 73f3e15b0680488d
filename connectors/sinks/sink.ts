/** What every sink stores with each chunk (plus the text itself). */
export interface ChunkMetadata {
  tenant: string;
  sourceUri: string;
  chunkIndex: number;
  start: number;
  end: number;
  contentHash: string;
  pipelineVersion: string;
  /** Headings of the section the chunk sits in, outermost first (Markdown-aware chunking); absent when there are none. */
  headingPath?: string[];
}

export interface SinkRecord {
  /** Deterministic chunk id (a UUID string). */
  id: string;
  vector: Float32Array;
  text: string;
  metadata: ChunkMetadata;
}

export interface SearchHit {
  id: string;
  score: number;
  text: string;
  metadata: ChunkMetadata;
}

/** The two halves of a hybrid query, and how to weigh them. */
export interface HybridQuery {
  /** The query text, for the keyword (BM25) half. */
  text: string;
  /** The query's vector, for the vector half. */
  vector: Float32Array;
  /** Weight of the vector half in [0, 1]: 0 is keyword only, 1 vector only. */
  alpha: number;
  /**
   * `rrf`: reciprocal-rank fusion; `relative-score`: each half's scores scaled to [0, 1], then weighed and summed;
   * `convex` (Pinecone only): one sparse-dense query scoring alpha·dense + (1 − alpha)·BM25, unscaled.
   */
  fusion: HybridFusion;
}

export type HybridFusion = 'rrf' | 'relative-score' | 'convex';

/** One chunk as a scan sees it: enough to find its document in the ledger. */
export interface ScannedChunk {
  id: string;
  sourceUri: string;
}

export interface ChunkPage {
  chunks: ScannedChunk[];
  /** Where the next page starts; absent when the scan is over. A page may be short, even empty, while a cursor remains. */
  cursor?: string;
}

export interface IndexSpec {
  /** Collection/index name for this pipeline and index version. */
  name: string;
  dims: number;
  metric: 'cosine' | 'dot' | 'l2';
}

/** A vector database. Every call is idempotent: upserting the same ids twice leaves one copy. */
export interface Sink {
  readonly kind: string;
  ensureIndex(spec: IndexSpec): Promise<void>;
  upsert(index: string, records: SinkRecord[]): Promise<void>;
  deleteIds(index: string, ids: string[]): Promise<void>;
  /** Whether the index exists (made by ensureIndex and not dropped); an alias's name is not an index. */
  hasIndex(index: string): Promise<boolean>;
  /** Removes every chunk of one document (by tenant and source uri). */
  deleteDocument(index: string, tenant: string, sourceUri: string): Promise<void>;
  count(index: string, filter?: { tenant?: string; sourceUri?: string }): Promise<number>;
  /** Ids stored for one document, for reconciliation. */
  idsOfDocument(index: string, tenant: string, sourceUri: string): Promise<string[]>;
  search(index: string, vector: Float32Array, opts: { topK: number; tenant?: string }): Promise<SearchHit[]>;
  /**
   * Keyword and vector search in one query, fused by the database itself (hybrid retrieval). Present only on sinks
   * whose database keeps a keyword index of the chunk text; `score` is the database's fused score. A sink may still
   * refuse an index it built before it kept that keyword index (Milvus: InvalidInput, reindex to a new version).
   */
  hybridSearch?(index: string, query: HybridQuery, opts: { topK: number; tenant?: string }): Promise<SearchHit[]>;
  /**
   * Pages through every chunk of one tenant in an index, for reconciliation, in the sink's own order and with bounded
   * memory whatever the index size. Every chunk present for the whole scan comes back at least once. `deletedSince`: how
   * many chunks returned by earlier pages the caller has deleted (deleteIds) since it got `cursor`; a sink that pages by
   * offset steps back by that much, others ignore it. The cursor is opaque text (it is stored in activity heartbeats).
   */
  scanChunks(index: string, opts: { tenant: string; limit: number; cursor?: string; deletedSince?: number }): Promise<ChunkPage>;
  /** The ids among `chunks` (of one tenant) that the index holds, in any order. Any number of ids: batched inside. */
  findIds(index: string, tenant: string, chunks: ScannedChunk[]): Promise<string[]>;
  /*
   * Index versions (blue/green). An alias is the readers' stable name for the live version of an index: a native
   * alias where the database has them (Weaviate, Milvus), a stored pointer record where it does not (Chroma, Pinecone).
   * setAlias creates the alias or moves it in one step, so a reader resolves either the old index or the new one,
   * never neither. Alias names share the index namespace: an alias may not carry the name of an index.
   */
  /** The index the alias points at, or undefined when there is no such alias. */
  getAlias(alias: string): Promise<string | undefined>;
  /** Creates the alias or moves it to `index`, which must exist. */
  setAlias(alias: string, index: string): Promise<void>;
  /** Removes the alias (not the index); removing a missing alias is a no-op. */
  deleteAlias(alias: string): Promise<void>;
  /** Drops an index and everything in it. A missing index is a no-op; an index an alias points at is refused. */
  dropIndex(index: string): Promise<void>;
  close(): Promise<void>;
}
