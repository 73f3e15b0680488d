import { pipelineRef } from '../pipeline/ref.ts';
import { sourceWorkflowId } from '../pipeline/ids.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import type { SourceWorkflowInput } from '../workflows/types.ts';
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
  };
}
