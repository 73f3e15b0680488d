import { pipelineRef } from '../pipeline/ref.ts';
import { sourceWorkflowId } from '../pipeline/ids.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { reconcileSummary, runDetails, sourceRunSummary } from '../workflows/summaries.ts';
import { reconcileWorkflowId, type ReconcileInput, type SourceWorkflowInput } from '../workflows/types.ts';
import { runSearchAttributes } from './documents.ts';

/**
 * How a source run of this pipeline version starts: `startIngest` starts it at once, a schedule's action starts it at
 * each time (Temporal appends the time to the workflow id). One definition, so both start the same workflow.
 */
export function sourceRunOptions(spec: PipelineSpec, sourceUri: string) {
  const ref = pipelineRef(spec);
  const input: SourceWorkflowInput = {
    pipeline: ref,
    sourceUri,
    pageSize: spec.concurrency.pageSize,
    maxInFlight: spec.concurrency.documents,
  };
  return {
    workflowType: 'sourceWorkflow',
    taskQueue: ref.ingestQueue,
    workflowId: sourceWorkflowId(ref, sourceUri),
    args: [input] as [SourceWorkflowInput],
    typedSearchAttributes: runSearchAttributes(ref, sourceUri, 'running'),
    memo: { pipeline: ref.name, pipelineVersion: ref.version, kind: 'source', sourceUri } as Record<string, unknown>,
    staticSummary: sourceRunSummary(ref, sourceUri),
    staticDetails: runDetails('Source run', ref, sourceUri, {
      'Page size': String(input.pageSize),
      'Documents at once': String(input.maxInFlight),
    }),
  };
}

/**
 * How a reconciliation of this pipeline version and tenant starts (`ingest reconcile`, `client.reconcile()`, a
 * `reconcile` schedule's action). `sourcePrefix` limits it to documents under one source prefix.
 */
export function reconcileRunOptions(spec: PipelineSpec, opts: { dryRun?: boolean; sourcePrefix?: string } = {}) {
  const ref = pipelineRef(spec);
  const input: ReconcileInput = {
    pipeline: ref,
    dryRun: opts.dryRun ?? false,
    pageSize: spec.concurrency.pageSize,
    maxInFlight: spec.concurrency.documents,
    ...(opts.sourcePrefix ? { sourcePrefix: opts.sourcePrefix } : {}),
  };
  return {
    workflowType: 'reconcileWorkflow',
    taskQueue: ref.ingestQueue,
    workflowId: reconcileWorkflowId(ref.name, ref.version, ref.tenant),
    args: [input] as [ReconcileInput],
    typedSearchAttributes: opts.sourcePrefix
      ? runSearchAttributes(ref, opts.sourcePrefix, 'running')
      : runSearchAttributes(ref, '', 'running').filter((a) => a.key.name !== 'SourceUri'),
    memo: { pipeline: ref.name, pipelineVersion: ref.version, kind: 'reconcile', dryRun: input.dryRun } as Record<
      string,
      unknown
    >,
    staticSummary: reconcileSummary(ref, input),
    staticDetails: runDetails(input.dryRun ? 'Reconciliation (dry run)' : 'Reconciliation', ref, input.sourcePrefix),
  };
}
