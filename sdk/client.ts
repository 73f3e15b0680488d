import type { Client } from '@temporalio/client';
import { pipelineRef } from '../pipeline/ref.ts';
import { applyDocumentEvent } from './documents.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { docStateQuery } from '../workflows/document.ts';
import { pipelineKey, tenantKey } from '../workflows/search-attributes.ts';
import { progressQuery } from '../workflows/source.ts';
import { promoteStateQuery, retireNowSignal, rollbackSignal, type PromoteState } from '../workflows/promote.ts';
import type { AcceptLosses } from '../workflows/promote-failures.ts';
import { documentWorkflowId, sourceWorkflowId } from '../pipeline/ids.ts';
import { PipelineSchedules } from './schedules.ts';
import { reconcileRunOptions, sourceRunOptions } from './source-run.ts';
import { reconcileReportQuery } from '../workflows/reconcile.ts';
import { listSourceRuns, runControls, type RunControls, type RunSummary } from './runs.ts';
import { promoteSummary, runDetails } from '../workflows/summaries.ts';
import { connectClient, type TemporalTarget } from './temporal-connection.ts';
import {
  promoteWorkflowId,
  type ReconcileReport,
  type DocEvent,
  type DocOutcome,
  type SourceCounts,
  type SourceProgress,
} from '../workflows/types.ts';

/** Where to connect (address, namespace, TLS, API key, payload codec: see `resolveTemporalTarget`) and the spec. */
export interface RaglineClientOptions extends TemporalTarget {
  spec: PipelineSpec;
}

/** A source run: its progress and result, and its controls (pause, resume, throttle, cancel). */
export interface IngestHandle extends RunControls {
  workflowId: string;
  progress(): Promise<SourceProgress>;
  result(): Promise<SourceCounts>;
}

export interface ReconcileHandle {
  workflowId: string;
  /** The drift found and repaired so far. */
  report(): Promise<ReconcileReport>;
  result(): Promise<ReconcileReport>;
}

export interface PromoteHandle {
  workflowId: string;
  state(): Promise<PromoteState>;
  /** Resolves once every sink's alias points at the new version (or throws the validation failure). */
  switched(): Promise<PromoteState>;
  /** Resolves when the replaced versions are dropped (or the promotion was rolled back). */
  result(): Promise<PromoteState>;
  rollback(): Promise<void>;
  retireNow(): Promise<void>;
}

/** A typed client for applications: start an ingest, ingest or delete one document and wait, query progress. */
export class RaglineClient {
  readonly temporal: Client;
  private readonly spec: PipelineSpec;

  private constructor(temporal: Client, spec: PipelineSpec) {
    this.temporal = temporal;
    this.spec = spec;
  }

  static async connect(opts: RaglineClientOptions): Promise<RaglineClient> {
    return new RaglineClient(await connectClient(opts), opts.spec);
  }

  /**
   * Starts ingesting every object under `sourceUri` (`s3://bucket/prefix` or `file:///dir`). One run per (pipeline
   * version, tenant, source) at a time: a second call while one runs follows that run.
   */
  async startIngest(sourceUri: string): Promise<IngestHandle> {
    const { workflowType, ...options } = sourceRunOptions(this.spec, sourceUri);
    const handle = await this.temporal.workflow.start(workflowType, { ...options, workflowIdConflictPolicy: 'USE_EXISTING' });
    return this.ingestHandle(options.workflowId, handle.workflowId);
  }

  /** Follows a source run started earlier (by any process). */
  getIngest(sourceUri: string): IngestHandle {
    const ref = pipelineRef(this.spec);
    const id = sourceWorkflowId(ref, sourceUri);
    return this.ingestHandle(id, id);
  }

  private ingestHandle(workflowId: string, id: string): IngestHandle {
    const handle = this.temporal.workflow.getHandle(id);
    return {
      workflowId,
      progress: () => handle.query(progressQuery),
      result: () => handle.result() as Promise<SourceCounts>,
      ...runControls(handle),
    };
  }

  /** The source runs of this pipeline version and tenant, newest first (Temporal's visibility lags a start a moment). */
  async listRuns(): Promise<RunSummary[]> {
    return listSourceRuns(this.temporal, pipelineRef(this.spec));
  }

  /** Signals the document's workflow (starting it if needed) and waits for the outcome of its pending events. */
  async ingestDocument(sourceUri: string): Promise<DocOutcome> {
    return this.sendEvent(sourceUri, { kind: 'upsert' });
  }

  /** Removes a document from every sink. Without `force`, only when the source no longer has it. */
  async deleteDocument(sourceUri: string, opts: { force?: boolean } = {}): Promise<DocOutcome> {
    return this.sendEvent(sourceUri, { kind: 'delete', force: opts.force ?? true });
  }

  private async sendEvent(sourceUri: string, event: DocEvent): Promise<DocOutcome> {
    return applyDocumentEvent(this.temporal, pipelineRef(this.spec), sourceUri, event);
  }

  /**
   * Promotes this pipeline version (blue/green): validates its index in every sink against the ledger, switches the
   * readers' alias, and drops the replaced version after `retireAfterMs` (default: the spec's indexVersions).
   */
  async promote(
    opts: {
      retireAfterMs?: number;
      /** Skip the chunk-count checks (not the losses: those need `acceptLosses`). */
      force?: boolean;
      /**
       * Documents readers see now that the new version may drop (failed or not ingested there), by source uri, or
       * 'all'. Default: none, and any such document refuses the promotion (PromotionLossesNotAccepted).
       */
      acceptLosses?: AcceptLosses;
    } = {},
  ): Promise<PromoteHandle> {
    const ref = pipelineRef(this.spec);
    const workflowId = promoteWorkflowId(ref.name, ref.version, ref.tenant);
    const handle = await this.temporal.workflow.start('promoteIndexWorkflow', {
      taskQueue: ref.ingestQueue,
      workflowId,
      args: [
        {
          pipeline: ref,
          retireAfterMs: opts.retireAfterMs ?? this.spec.indexVersions.retireAfterMinutes * 60_000,
          force: opts.force,
          ...(opts.acceptLosses === undefined ? {} : { acceptLosses: opts.acceptLosses }),
        },
      ],
      typedSearchAttributes: [
        { key: tenantKey, value: ref.tenant },
        { key: pipelineKey, value: `${ref.name}-v${ref.version}` },
      ],
      memo: { pipeline: ref.name, pipelineVersion: ref.version, kind: 'promote' },
      staticSummary: promoteSummary(ref),
      staticDetails: runDetails('Index promotion (blue/green)', ref),
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    const state = () => handle.query(promoteStateQuery);
    return {
      workflowId,
      state,
      result: () => handle.result() as Promise<PromoteState>,
      rollback: () => handle.signal(rollbackSignal),
      retireNow: () => handle.signal(retireNowSignal),
      switched: async () => {
        for (;;) {
          const { status } = await handle.describe();
          if (status.name !== 'RUNNING') return (await handle.result()) as PromoteState;
          const s = await state();
          if (s.phase !== 'validating' && s.phase !== 'switching' && s.phase !== 'compensating') return s;
          await new Promise((r) => setTimeout(r, 250));
        }
      },
    };
  }

  /**
   * Reconciles this pipeline version's sinks with its ledger for this tenant (see workflows/reconcile.ts): a lost
   * index is made again, orphan chunks deleted, documents with missing chunks re-ingested from the embedding cache.
   * `dryRun` counts the drift and changes nothing; `sourcePrefix` limits it to documents under one source prefix. One
   * reconciliation per pipeline version and tenant at a time: a second call while one runs follows that one.
   */
  async reconcile(opts: { dryRun?: boolean; sourcePrefix?: string } = {}): Promise<ReconcileHandle> {
    const { workflowType, ...options } = reconcileRunOptions(this.spec, opts);
    const handle = await this.temporal.workflow.start(workflowType, { ...options, workflowIdConflictPolicy: 'USE_EXISTING' });
    return {
      workflowId: handle.workflowId,
      report: () => handle.query(reconcileReportQuery),
      result: () => handle.result() as Promise<ReconcileReport>,
    };
  }

  /**
   * The Temporal Schedules of this pipeline version and tenant: `apply()` the spec's `schedules`, then list, describe,
   * pause, unpause, trigger, backfill or delete them by name.
   */
  get schedules(): PipelineSchedules {
    return new PipelineSchedules(this.temporal, this.spec);
  }

  /** The state of one document's workflow, if it runs or ran. */
  async documentState(sourceUri: string) {
    const ref = pipelineRef(this.spec);
    return this.temporal.workflow.getHandle(documentWorkflowId(ref, sourceUri)).query(docStateQuery);
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
  }
}
