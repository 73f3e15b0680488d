import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, getExternalWorkflowHandle, startChild } from '@temporalio/workflow';
import { docEventSignal, documentWorkflow } from './document.ts';
import { docStatusKey, pipelineKey, sourceUriKey, tenantKey } from './search-attributes.ts';
import { documentSummary, runDetails } from './summaries.ts';
import type { DocEvent, DocOutcome, PipelineRef } from './types.ts';

export type StartedDocument = { kind: 'started'; result: Promise<DocOutcome> } | { kind: 'handedOff' };

/**
 * Starts the document's workflow with one event, as a child that outlives its parent (ABANDON). When the document's
 * workflow already runs (an event got there first), it is handed the event by a signal instead, and its outcome is
 * not this caller's to wait for.
 */
export async function startDocument(
  pipeline: PipelineRef,
  item: { uri: string; workflowId: string; event: DocEvent },
): Promise<StartedDocument> {
  const { uri, workflowId, event } = item;
  try {
    const child = await startChild(documentWorkflow, {
      workflowId,
      args: [{ pipeline, sourceUri: uri, pending: [event] }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: tenantKey, value: pipeline.tenant },
        { key: sourceUriKey, value: uri },
        { key: pipelineKey, value: `${pipeline.name}-v${pipeline.version}` },
        { key: docStatusKey, value: 'processing' },
      ],
      memo: { pipeline: pipeline.name, pipelineVersion: pipeline.version, sourceUri: uri },
      staticSummary: documentSummary(pipeline, uri, event),
      staticDetails: runDetails('Document', pipeline, uri),
    });
    return { kind: 'started', result: child.result() };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await getExternalWorkflowHandle(workflowId).signal(docEventSignal, event);
    return { kind: 'handedOff' };
  }
}
