/** What every sink stores with each chunk (plus the text itself). */
export interface ChunkMetadata {
  tenant: string;
  sourceUri: string;
  chunkIndex: number;
  start: number;
  end: number;
  contentHash: string;
  pipelineVersion: string;
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
  /** Removes every chunk of one document (by tenant and source uri). */
  deleteDocument(index: string, tenant: string, sourceUri: string): Promise<void>;
  count(index: string, filter?: { tenant?: string; sourceUri?: string }): Promise<number>;
  /** Ids stored for one document, for reconciliation. */
  idsOfDocument(index: string, tenant: string, sourceUri: string): Promise<string[]>;
  search(index: string, vector: Float32Array, opts: { topK: number; tenant?: string }): Promise<SearchHit[]>;
  close(): Promise<void>;
}
