export const DocStatus = {
  ingested: 'ingested',
  unchanged: 'unchanged',
  failed: 'failed',
  deleted: 'deleted',
  processing: 'processing',
} as const;
export type DocStatus = (typeof DocStatus)[keyof typeof DocStatus];

export interface SinkState {
  state: 'ok' | 'failed' | 'pending';
  /** Chunks written to this sink by the last successful upsert. */
  upserted?: number;
  error?: string;
  updatedAt: string;
}

/** What the ledger knows of one document of one tenant. */
export interface DocumentRecord {
  tenant: string;
  sourceUri: string;
  status: DocStatus;
  /** sha256 of the source bytes of the version last ingested. */
  contentHash: string | null;
  pipelineVersion: string | null;
  /** Ids of the chunks the sinks hold for this document (after the last successful ingest). */
  chunkIds: string[];
  sinks: Record<string, SinkState>;
  lastError: { type: string; message: string } | null;
  /** Monotonic version of the source event last applied (e.g. S3 sequencer or a timestamp); older events are ignored. */
  sourceVersion: string | null;
  updatedAt: string;
}

export interface LedgerQuery {
  tenant?: string;
  status?: DocStatus;
  /** Source uris starting with this. */
  sourcePrefix?: string;
  limit?: number;
  /** Opaque cursor from the previous page. */
  after?: string;
}

/** The durable record of what was ingested where. SQLite for the embedded default, PostgreSQL for a fleet. */
export interface Ledger {
  get(tenant: string, sourceUri: string): Promise<DocumentRecord | undefined>;
  /** Inserts or replaces the whole record. */
  put(record: DocumentRecord): Promise<void>;
  /** Updates one sink's state without touching the rest. */
  setSinkState(tenant: string, sourceUri: string, sink: string, state: SinkState): Promise<void>;
  list(query: LedgerQuery): Promise<{ records: DocumentRecord[]; next?: string }>;
  counts(tenant?: string): Promise<Record<DocStatus, number>>;
  close(): Promise<void>;
}

/** Vectors already paid for, keyed by (embedder identity, chunk content hash). Shared by every worker of a host. */
export interface EmbeddingCache {
  getMany(identity: string, hashes: string[]): Promise<Array<Float32Array | undefined>>;
  putMany(identity: string, entries: Array<{ hash: string; vector: Float32Array }>): Promise<void>;
  stats(): { hits: number; misses: number };
  close(): Promise<void>;
}
