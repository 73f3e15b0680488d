import { Client, Connection } from '@temporalio/client';
import { pipelineRef } from '../pipeline/ref.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { docEventSignal, docStateQuery } from '../workflows/document.ts';
import { docStatusKey, pipelineKey, sourceUriKey, tenantKey } from '../workflows/search-attributes.ts';
import { progressQuery } from '../workflows/source.ts';
import {
  documentWorkflowId,
  sourceWorkflowId,
  type DocOutcome,
  type SourceCounts,
  type SourceProgress,
} from '../workflows/types.ts';

export interface RaglineClientOptions {
  /** Temporal frontend, e.g. `127.0.0.1:7233`. */
  address: string;
  namespace: string;
  spec: PipelineSpec;
}

export interface IngestHandle {
  workflowId: string;
  progress(): Promise<SourceProgress>;
  result(): Promise<SourceCounts>;
}

/** A typed client for applications: start an ingest, ingest or delete one document and wait, query progress. */
export class RaglineClient {
  readonly temporal: Client;
  private readonly connection: Connection;
  private readonly spec: PipelineSpec;

  private constructor(connection: Connection, namespace: string, spec: PipelineSpec) {
    this.connection = connection;
    this.temporal = new Client({ connection, namespace });
    this.spec = spec;
  }

  static async connect(opts: RaglineClientOptions): Promise<RaglineClient> {
    return new RaglineClient(await Connection.connect({ address: opts.address }), opts.namespace, opts.spec);
  }

  private attrs(sourceUri: string) {
    const ref = pipelineRef(this.spec);
    return [
      { key: tenantKey, value: ref.tenant },
      { key: sourceUriKey, value: sourceUri },
      { key: pipelineKey, value: `${ref.name}-v${ref.version}` },
    ];
  }

  /** Starts ingesting every object under `sourceUri` (`s3://bucket/prefix` or `file:///dir`). One run per source at a time. */
  async startIngest(sourceUri: string): Promise<IngestHandle> {
    const ref = pipelineRef(this.spec);
    const workflowId = sourceWorkflowId(ref.name, ref.tenant, sourceUri);
    const handle = await this.temporal.workflow.start('sourceWorkflow', {
      taskQueue: ref.ingestQueue,
      workflowId,
      args: [
        { pipeline: ref, sourceUri, pageSize: this.spec.concurrency.pageSize, maxInFlight: this.spec.concurrency.documents },
      ],
      typedSearchAttributes: [...this.attrs(sourceUri), { key: docStatusKey, value: 'running' }],
      memo: { pipeline: ref.name, pipelineVersion: ref.version, kind: 'source' },
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return this.ingestHandle(workflowId, handle.workflowId);
  }

  /** Follows a source run started earlier (by any process). */
  getIngest(sourceUri: string): IngestHandle {
    const ref = pipelineRef(this.spec);
    const id = sourceWorkflowId(ref.name, ref.tenant, sourceUri);
    return this.ingestHandle(id, id);
  }

  private ingestHandle(workflowId: string, id: string): IngestHandle {
    const handle = this.temporal.workflow.getHandle(id);
    return {
      workflowId,
      progress: () => handle.query(progressQuery),
      result: () => handle.result() as Promise<SourceCounts>,
    };
  }

  /** Signals the document's workflow (starting it if needed) and waits for the outcome of its pending events. */
  async ingestDocument(sourceUri: string): Promise<DocOutcome> {
    return this.sendEvent(sourceUri, { kind: 'upsert' });
  }

  /** Removes a document from every sink. Without `force`, only when the source no longer has it. */
  async deleteDocument(sourceUri: string, opts: { force?: boolean } = {}): Promise<DocOutcome> {
    return this.sendEvent(sourceUri, { kind: 'delete', force: opts.force ?? true });
  }

  private async sendEvent(sourceUri: string, event: { kind: 'upsert' | 'delete'; force?: boolean }): Promise<DocOutcome> {
    const ref = pipelineRef(this.spec);
    const handle = await this.temporal.workflow.signalWithStart('documentWorkflow', {
      taskQueue: ref.ingestQueue,
      workflowId: documentWorkflowId(ref.tenant, sourceUri),
      args: [{ pipeline: ref, sourceUri, pending: [], lingerMs: 2000 }],
      signal: docEventSignal,
      signalArgs: [event],
      typedSearchAttributes: [...this.attrs(sourceUri), { key: docStatusKey, value: 'processing' }],
      memo: { pipeline: ref.name, pipelineVersion: ref.version },
    });
    return (await handle.result()) as DocOutcome;
  }

  /** The state of one document's workflow, if it runs or ran. */
  async documentState(sourceUri: string) {
    const ref = pipelineRef(this.spec);
    return this.temporal.workflow.getHandle(documentWorkflowId(ref.tenant, sourceUri)).query(docStateQuery);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
