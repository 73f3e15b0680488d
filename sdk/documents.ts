import type { Client, WorkflowHandleWithSignaledRunId } from '@temporalio/client';
import { docEventSignal } from '../workflows/document.ts';
import { docStatusKey, pipelineKey, sourceUriKey, tenantKey } from '../workflows/search-attributes.ts';
import { documentWorkflowId } from '../pipeline/ids.ts';
import { documentSummary, runDetails } from '../workflows/summaries.ts';
import type { DocEvent, DocOutcome, PipelineRef } from '../workflows/types.ts';

/** Search attributes every run of a pipeline version carries (the full uri, even when the id holds its hash). */
export function runSearchAttributes(ref: PipelineRef, sourceUri: string, status: string) {
  return [
    { key: tenantKey, value: ref.tenant },
    { key: sourceUriKey, value: sourceUri },
    { key: pipelineKey, value: `${ref.name}-v${ref.version}` },
    { key: docStatusKey, value: status },
  ];
}

export interface SignalDocumentOptions {
  /**
   * How long the document workflow waits for another event before it completes, so a burst of events for one
   * document (a replay, an editor saving twice) is applied by one run. Default 2 s.
   */
  lingerMs?: number;
}

/**
 * Hands one event to the document's entity workflow of this pipeline version, starting it if none runs
 * (signal-with-start). Resolves once Temporal has durably accepted the signal: that is when a trigger may commit its
 * offset. Duplicates are harmless: a running workflow collapses them, a finished one finds nothing changed.
 */
export async function signalDocument(
  client: Client,
  ref: PipelineRef,
  sourceUri: string,
  event: DocEvent,
  opts: SignalDocumentOptions = {},
): Promise<WorkflowHandleWithSignaledRunId> {
  return client.workflow.signalWithStart('documentWorkflow', {
    taskQueue: ref.ingestQueue,
    workflowId: documentWorkflowId(ref, sourceUri),
    args: [{ pipeline: ref, sourceUri, pending: [], lingerMs: opts.lingerMs ?? 2000 }],
    signal: docEventSignal,
    signalArgs: [event],
    typedSearchAttributes: runSearchAttributes(ref, sourceUri, 'processing'),
    memo: { pipeline: ref.name, pipelineVersion: ref.version, sourceUri },
    // The first event's summary: later events for the same run arrive as signals and leave it as it is.
    staticSummary: documentSummary(ref, sourceUri, event),
    staticDetails: runDetails('Document', ref, sourceUri),
  });
}

/** Signals the document and waits for the outcome of the run that applies the event. */
export async function applyDocumentEvent(
  client: Client,
  ref: PipelineRef,
  sourceUri: string,
  event: DocEvent,
  opts: SignalDocumentOptions = {},
): Promise<DocOutcome> {
  const handle = await signalDocument(client, ref, sourceUri, event, opts);
  return (await handle.result()) as DocOutcome;
}
