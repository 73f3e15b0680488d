import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ParentClosePolicy,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { docEventSignal, documentWorkflow } from './document.ts';
import { docStatusKey, pipelineKey, sourceUriKey, tenantKey } from './search-attributes.ts';
import {
  emptyCounts,
  type DocEvent,
  type DocOutcome,
  type SourceCounts,
  type SourceProgress,
  type SourceWorkflowInput,
} from './types.ts';

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Changes how many document workflows run at once. */
export const throttleSignal = defineSignal<[number]>('throttle');
export const progressQuery = defineQuery<SourceProgress>('progress');

/**
 * Ingests every object under a source prefix: lists one page per run, keeps at most `maxInFlight` document workflows
 * running (a sliding window), waits for the page to finish, then continues as new with the next cursor.
 */
export async function sourceWorkflow(input: SourceWorkflowInput): Promise<SourceCounts> {
  const { pipeline, sourceUri } = input;
  const acts = proxyActivities<IngestActivities>({
    taskQueue: pipeline.ingestQueue,
    startToCloseTimeout: '5 minutes',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '1 minute',
      maximumAttempts: 10,
      nonRetryableErrorTypes: ['InvalidInput', 'NotFound'],
    },
  });
  const counts: SourceCounts = input.counts ?? emptyCounts();
  let paused = input.paused ?? false;
  let maxInFlight = input.maxInFlight;
  let inFlight = 0;
  const pages = (input.pages ?? 0) + 1;
  let done = false;

  setHandler(pauseSignal, () => void (paused = true));
  setHandler(resumeSignal, () => void (paused = false));
  setHandler(throttleSignal, (n) => void (maxInFlight = Math.max(1, Math.floor(n))));
  setHandler(progressQuery, () => ({ ...counts, inFlight, maxInFlight, paused, pages, done }));

  /** Runs one document workflow per item, at most `maxInFlight` at once, and waits for all of them. */
  async function runDocuments(items: Array<{ uri: string; workflowId: string; event: DocEvent }>): Promise<void> {
    const running: Array<Promise<void>> = [];
    for (const { uri, workflowId, event } of items) {
      await condition(() => !paused && inFlight < maxInFlight);
      inFlight++;
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
        });
        running.push(
          child
            .result()
            .then(
              (outcome) => record(counts, outcome),
              () => void counts.failed++,
            )
            .finally(() => void inFlight--),
        );
      } catch (err) {
        inFlight--;
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        // The document's workflow is already running (an event got there first): hand it this event instead.
        await getExternalWorkflowHandle(workflowId).signal(docEventSignal, event);
        counts.handedOff++;
      }
    }
    await Promise.all(running);
  }

  if (input.phase !== 'sweep') {
    const page = await acts.listSourcePage({ pipeline, sourceUri, cursor: input.cursor, pageSize: input.pageSize });
    counts.listed += page.items.length;
    await runDocuments(
      page.items.map((i) => ({ uri: i.uri, workflowId: i.workflowId, event: { kind: 'upsert', sourceVersion: i.version } })),
    );
    if (page.cursor) {
      await continueAsNew<typeof sourceWorkflow>({ ...input, cursor: page.cursor, pages, counts, paused, maxInFlight });
    }
    if (input.sweep === false) {
      done = true;
      return counts;
    }
    await continueAsNew<typeof sourceWorkflow>({
      ...input,
      phase: 'sweep',
      cursor: undefined,
      pages,
      counts,
      paused,
      maxInFlight,
    });
  }

  // Sweep: documents the ledger holds under this prefix that the source no longer has are deleted everywhere, so a
  // delete whose event was lost (or never sent) still happens at the next run.
  const removed = await acts.findRemoved({ pipeline, sourceUri, after: input.cursor, limit: input.pageSize });
  await runDocuments(removed.items.map((i) => ({ ...i, event: { kind: 'delete' } })));
  if (removed.next) {
    await continueAsNew<typeof sourceWorkflow>({
      ...input,
      phase: 'sweep',
      cursor: removed.next,
      pages,
      counts,
      paused,
      maxInFlight,
    });
  }
  done = true;
  return counts;
}

function record(counts: SourceCounts, o: DocOutcome): void {
  counts[o.status]++;
  counts.chunks += o.status === 'ingested' ? o.chunks : 0;
  counts.cached += o.cached;
  for (const [sink, n] of Object.entries(o.upserted)) counts.upserted[sink] = (counts.upserted[sink] ?? 0) + n;
}
