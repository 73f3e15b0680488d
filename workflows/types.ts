// Plain data shared by workflows, activities and clients. No imports: workflows load this file in their sandbox.

/** What a workflow needs to know of its pipeline; the bulky spec stays with the workers that loaded it. */
export interface PipelineRef {
  name: string;
  version: number;
  tenant: string;
  sinks: string[];
  /** Task queue of the CPU steps (parse, chunk, upsert, commit) and of the embedding step. */
  ingestQueue: string;
  embedQueue: string;
  /**
   * Short hash of what shapes the vectors (chunker and embedder settings). The ledger records it, so changing the
   * chunker or the model re-processes unchanged documents even without a version bump.
   */
  fingerprint?: string;
}

/** What the ledger stores as a document's pipeline version: `version` plus the fingerprint when there is one. */
export function pipelineStamp(p: Pick<PipelineRef, 'version' | 'fingerprint'>): string {
  return p.fingerprint ? `${p.version}+${p.fingerprint}` : String(p.version);
}

/**
 * A change notice for one document. Events are triggers, not payloads: applying one always reads the source's
 * current object, so however events interleave, the document ends in the source's latest state.
 */
export interface DocEvent {
  kind: 'upsert' | 'delete';
  /**
   * The object's version as the lister or the trigger saw it (ETag, or size+mtime for folders). When the ledger holds
   * the same version at the same pipeline stamp, the document is skipped without reading the object.
   */
  sourceVersion?: string;
  /**
   * When the change happened (ms since the epoch: the S3 event time, the producer's timestamp). An event older than
   * the one the ledger last applied to this document is ignored when a HEAD shows the object unchanged since.
   */
  eventTime?: number;
  /** A delete that removes the document even though the source still has it (`ingest delete`). */
  force?: boolean;
  /**
   * An upsert that re-writes the document even when the ledger says it is up to date (reconciliation found chunks
   * missing from a sink): the object is read and chunked again, vectors come from the embedding cache.
   */
  repair?: boolean;
}

export const DocOutcomeStatus = {
  ingested: 'ingested',
  unchanged: 'unchanged',
  deleted: 'deleted',
  failed: 'failed',
} as const;
export type DocOutcomeStatus = (typeof DocOutcomeStatus)[keyof typeof DocOutcomeStatus];

export interface DocOutcome {
  status: DocOutcomeStatus;
  chunks: number;
  /** Records written per sink. */
  upserted: Record<string, number>;
  /** Chunks whose vectors came from the embedding cache. */
  cached: number;
  error?: { type: string; message: string };
}

export interface DocumentWorkflowInput {
  pipeline: PipelineRef;
  sourceUri: string;
  /** Events not yet applied (carried across continue-as-new). */
  pending: DocEvent[];
  /**
   * How long an idle document workflow waits for another event before completing, so a burst of events (a Kafka
   * replay, an editor saving twice) is applied by one run. Default 0: complete as soon as nothing is pending.
   */
  lingerMs?: number;
}

export interface SourceCounts {
  listed: number;
  ingested: number;
  unchanged: number;
  deleted: number;
  failed: number;
  /** Documents already being processed by their own workflow (an event got there first): signalled, not awaited. */
  handedOff: number;
  chunks: number;
  cached: number;
  upserted: Record<string, number>;
}

export interface SourceWorkflowInput {
  pipeline: PipelineRef;
  /** `s3://bucket/prefix` or `file:///dir`. */
  sourceUri: string;
  pageSize: number;
  maxInFlight: number;
  cursor?: string;
  pages?: number;
  /** When the run's first execution started (ms since the epoch), carried across continue-as-new. */
  startedAt?: number;
  counts?: SourceCounts;
  paused?: boolean;
  /** `list` pages the source; `sweep` then deletes what the ledger has under the prefix and the source lacks. */
  phase?: 'list' | 'sweep';
  /** Set false to skip the sweep (e.g. when only part of a prefix was uploaded yet). Default true. */
  sweep?: boolean;
}

export interface SourceProgress extends SourceCounts {
  inFlight: number;
  maxInFlight: number;
  paused: boolean;
  pages: number;
  done: boolean;
  /** When the run (its first execution, before any continue-as-new) started, in ms since the epoch. */
  startedAt: number;
}

export function emptyCounts(): SourceCounts {
  return { listed: 0, ingested: 0, unchanged: 0, deleted: 0, failed: 0, handedOff: 0, chunks: 0, cached: 0, upserted: {} };
}

/**
 * The identity every workflow, ledger row and task queue of one document carries. Workflow ids are made from it by
 * `documentWorkflowId` in pipeline/ids.ts, outside the sandbox (it hashes long uris); the source workflow gets its
 * children's ids from its listing activities.
 */
export type DocIdentity = Pick<PipelineRef, 'name' | 'version' | 'tenant'>;

/** Drift of one sink found (and repaired) by a reconciliation run. */
export interface SinkDrift {
  /** Chunks the ledger records for live documents that the sink lacks. */
  missing: number;
  /** Chunks the sink holds that no live document of the ledger owns. */
  orphans: number;
  /** Missing chunks written back, plus orphans deleted. */
  repaired: number;
  /** 1 when the sink's index for this version was gone and was made again. */
  rebuilt: number;
  /** Documents with missing chunks here. */
  documents: number;
  /** Orphans left because their document was being ingested meanwhile (the next run looks again). */
  skipped: number;
  /** Set when the sink could not be reached (after retries): its counts are what was found before. */
  error?: string;
}

export interface ReconcileReport {
  dryRun: boolean;
  sinks: Record<string, SinkDrift>;
  /** Live documents the ledger holds for this tenant, checked against every sink. */
  documents: number;
  /**
   * Documents re-ingested to repair them: how many came back ingested or failed, how many were handed to a workflow
   * already running; the chunks they wrote and how many of those took their vector from the embedding cache.
   */
  repairs: { started: number; ingested: number; failed: number; handedOff: number; chunks: number; cached: number };
  /** Intermediate artifacts (per document run) older than a day that no running workflow owned, removed. */
  janitor: { removed: number; kept: number; error?: string };
  phase: 'index' | 'orphans' | 'missing' | 'janitor' | 'done';
}

export interface ReconcileInput {
  pipeline: PipelineRef;
  dryRun: boolean;
  /** Documents per ledger page (and per check of the sinks). */
  pageSize: number;
  /** Document workflows running at once for repairs. */
  maxInFlight: number;
  /** Only documents under this source prefix (a schedule's source); default every document of the tenant. */
  sourcePrefix?: string;
  /** Carried across continue-as-new. */
  report?: ReconcileReport;
  cursor?: string;
  deletedSince?: number;
  sinkIndex?: number;
  /** Sinks found without this version's index by a dry run (every chunk there counts as missing). */
  absent?: string[];
}

export function emptyDrift(): SinkDrift {
  return { missing: 0, orphans: 0, repaired: 0, rebuilt: 0, documents: 0, skipped: 0 };
}

/** One reconciliation of a pipeline version and tenant at a time (a schedule and `ingest reconcile` share it). */
export function reconcileWorkflowId(pipeline: string, version: number, tenant: string): string {
  return `reconcile:${pipeline}-v${version}:${tenant}`;
}

export function promoteWorkflowId(pipeline: string, version: number, tenant: string): string {
  return `promote:${pipeline}-v${version}:${tenant}`;
}

/** Task queues are per pipeline version: a worker only ever receives work of the spec it loaded. */
export function taskQueues(name: string, version: number): { ingestQueue: string; embedQueue: string } {
  return { ingestQueue: `ragline.${name}.v${version}.ingest`, embedQueue: `ragline.${name}.v${version}.embed` };
}

/** Custom search attributes (registered by the local stack's Temporal and by docker-compose). */
export const SearchAttr = {
  Tenant: 'Tenant',
  SourceUri: 'SourceUri',
  DocStatus: 'DocStatus',
  Pipeline: 'Pipeline',
} as const;
