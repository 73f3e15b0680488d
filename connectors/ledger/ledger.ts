export const DocStatus = {
  ingested: 'ingested',
  unchanged: 'unchanged',
  failed: 'failed',
  deleted: 'deleted',
  processing: 'processing',
  /**
   * Its last run was cancelled (the source run was, or an operator cancelled it) before the ledger had an outcome:
   * the sinks keep what they held of the version before, and the next run ingests it again.
   */
  cancelled: 'cancelled',
} as const;
export type DocStatus = (typeof DocStatus)[keyof typeof DocStatus];

export interface SinkState {
  state: 'ok' | 'failed' | 'pending';
  /** Chunks written to this sink by the last successful upsert. */
  upserted?: number;
  error?: string;
  updatedAt: string;
}

/**
 * The pipeline version a ledger view belongs to. A document's identity is (pipeline, version, tenant, uri): two
 * pipelines, or two versions of one pipeline built side by side (blue/green), never share a row.
 */
export interface LedgerScope {
  pipeline: string;
  version: number;
}

/** What the ledger knows of one document of one tenant, for the view's pipeline version. */
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
  /**
   * The object version (ETag, or size+mtime for folders) of the bytes last ingested: an event or a listing with the
   * same version at the same pipeline stamp is skipped without reading the object.
   */
  sourceVersion: string | null;
  /** When the newest event applied to this document happened (ISO); an older one is ignored if the object is unchanged. */
  eventAt: string | null;
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

export const IndexState = {
  /** Being filled by ingest runs; readers do not see it. */
  building: 'building',
  /** The alias points here. */
  current: 'current',
  /** Replaced; kept until retireAfter so readers can be switched back. */
  retiring: 'retiring',
  /** Dropped from the sink. */
  retired: 'retired',
} as const;
export type IndexState = (typeof IndexState)[keyof typeof IndexState];

/** One version of one sink's index for one alias (blue/green history). */
export interface IndexVersionRecord {
  /** The readers' name (pipeline name). */
  alias: string;
  /** Sink name in the pipeline spec. */
  sink: string;
  /** Concrete index name (pipeline name and version). */
  index: string;
  state: IndexState;
  /** Chunks the sink held when the version was validated for promotion. */
  chunks: number | null;
  promotedAt: string | null;
  /** When a retiring version may be dropped. */
  retireAfter: string | null;
  updatedAt: string;
}

/**
 * The durable record of what was ingested where, as seen by one pipeline version (`scope`). SQLite for the embedded
 * default, PostgreSQL for a fleet. Index versions are kept per alias, across versions.
 */
export interface Ledger {
  readonly scope: LedgerScope;
  /** A view of another version of the same pipeline over the same database (closing it closes nothing). */
  forVersion(version: number): Ledger;
  get(tenant: string, sourceUri: string): Promise<DocumentRecord | undefined>;
  /** Inserts or replaces the whole record. */
  put(record: DocumentRecord): Promise<void>;
  /** Updates one sink's state without touching the rest. */
  setSinkState(tenant: string, sourceUri: string, sink: string, state: SinkState): Promise<void>;
  list(query: LedgerQuery): Promise<{ records: DocumentRecord[]; next?: string }>;
  counts(tenant?: string): Promise<Record<DocStatus, number>>;
  /**
   * Documents of this version (status ingested or unchanged) recorded at one pipeline stamp, and the sum of their
   * chunk ids, for one tenant or all: what a complete index of that version holds.
   */
  totals(pipelineVersion: string, tenant?: string): Promise<{ documents: number; chunks: number }>;
  /** Removes every row of one tenant from this version (an aborted reindex); returns how many. Other versions keep theirs. */
  deleteTenant(tenant: string): Promise<number>;
  /** Every recorded version of an alias, all sinks, in the order first recorded (a replace keeps its place). */
  listIndexVersions(alias: string): Promise<IndexVersionRecord[]>;
  /** Inserts or replaces the record for (alias, sink, index). */
  putIndexVersion(record: IndexVersionRecord): Promise<void>;
  close(): Promise<void>;
}

/** Vectors already paid for, keyed by (embedder identity, chunk content hash). Shared by every worker of a host. */
export interface EmbeddingCache {
  getMany(identity: string, hashes: string[]): Promise<Array<Float32Array | undefined>>;
  putMany(identity: string, entries: Array<{ hash: string; vector: Float32Array }>): Promise<void>;
  stats(): { hits: number; misses: number };
  close(): Promise<void>;
}
