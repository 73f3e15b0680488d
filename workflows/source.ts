import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { startDocument, type StartedDocument } from './children.ts';
import { invalidMaxInFlight, type RunControlState } from './run-controls.ts';
import { docStatusKey } from './search-attributes.ts';
import { displayUri, sourceProgressDetails, stepSummary } from './summaries.ts';
import {
  emptyCounts,
  type DocEvent,
  type DocOutcome,
  type SourceCounts,
  type SourceProgress,
  type SourceWorkflowInput,
} from './types.ts';

// Signals, for the Temporal UI (it sends signals, not updates). A signal cannot answer, so an invalid value is logged
// and ignored; the updates below refuse it to the caller instead.
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Changes how many document workflows run at once. */
export const throttleSignal = defineSignal<[number]>('throttle');
export const progressQuery = defineQuery<SourceProgress>('progress');

/**
 * Patch ids (Temporal `patched()`): histories recorded before a change replay the old logic.
 * Final status: a run that ends sets its DocStatus to completed, cancelled or failed (it stayed `running` before).
 */
export const SOURCE_PATCHES = { finalStatus: 'source-final-status' } as const;

/** Stops starting document workflows (those in flight finish); returns the run's new state. */
export const pauseUpdate = defineUpdate<RunControlState>('pause');
export const resumeUpdate = defineUpdate<RunControlState>('resume');
/** Sets the sliding window (an integer from 1 to 1000); the validator refuses anything else before it is stored. */
export const throttleUpdate = defineUpdate<RunControlState, [number]>('throttle');

/** The failure type a refused control carries to the caller. */
export const INVALID_RUN_CONTROL = 'InvalidRunControl';

/**
 * Ingests every object under a source prefix: lists one page per run, keeps at most `maxInFlight` document workflows
 * running (a sliding window), waits for the page to finish, then continues as new with the next cursor.
 *
 * Cancelling the run stops starting documents and cancels the document workflows it started (each cleans up its
 * artifacts); the run waits for them to close, then ends cancelled. Documents handed off to a workflow an event
 * started are not this run's and go on.
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
  // This execution's start is the run's only in its first execution: later ones are handed the first one's.
  const startedAt = input.startedAt ?? workflowInfo().runStartTime.getTime();
  let done = false;
  let cancelling = false;

  const state = (): RunControlState => ({ paused, maxInFlight });
  const refuse = (why: string): never => {
    throw ApplicationFailure.nonRetryable(why, INVALID_RUN_CONTROL);
  };
  const notCancelling = (): void => {
    if (cancelling) refuse('the run is being cancelled');
  };
  const progress = (): SourceProgress => ({
    ...counts,
    inFlight,
    maxInFlight,
    paused,
    pages,
    done,
    startedAt,
  });
  /** The UI's current details: the progress query's answer as text (kept in the worker, never in history). */
  const show = (): void => setCurrentDetails(sourceProgressDetails(progress(), input.phase ?? 'list'));
  setHandler(
    pauseUpdate,
    () => {
      paused = true;
      show();
      return state();
    },
    { validator: notCancelling },
  );
  setHandler(
    resumeUpdate,
    () => {
      paused = false;
      show();
      return state();
    },
    { validator: notCancelling },
  );
  setHandler(
    throttleUpdate,
    (n) => {
      maxInFlight = n;
      show();
      return state();
    },
    {
      validator: (n) => {
        const why = invalidMaxInFlight(n);
        if (why) refuse(why);
      },
    },
  );
  setHandler(pauseSignal, () => {
    paused = true;
    show();
  });
  setHandler(resumeSignal, () => {
    paused = false;
    show();
  });
  setHandler(throttleSignal, (n) => {
    const why = invalidMaxInFlight(n);
    if (why) return log.warn(`throttle signal ignored: ${why}`, { value: String(n), maxInFlight });
    maxInFlight = n;
    show();
  });
  setHandler(progressQuery, progress);
  show();

  /** Runs one document workflow per item, at most `maxInFlight` at once, and waits for all of them. */
  async function runDocuments(items: Array<{ uri: string; workflowId: string; event: DocEvent }>): Promise<void> {
    const running: Array<Promise<void>> = [];
    for (const item of items) {
      await condition(() => !paused && inFlight < maxInFlight);
      inFlight++;
      show();
      let started: StartedDocument;
      try {
        started = await startDocument(pipeline, item);
      } catch (err) {
        inFlight--;
        throw err;
      }
      if (started.kind === 'handedOff') {
        // The document's workflow is already running (an event got there first): it was handed this event instead.
        inFlight--;
        counts.handedOff++;
        show();
        continue;
      }
      running.push(
        started.result
          .then(
            (outcome) => record(counts, outcome),
            // A document cancelled with the run did not fail: it is simply not counted.
            (err) => void (isCancellation(err) || counts.failed++),
          )
          .finally(() => {
            inFlight--;
            show();
          }),
      );
    }
    await Promise.all(running);
    // Cancelled while the last documents ran: never list or continue as new after that.
    if (CancellationScope.current().consideredCancelled) await CancellationScope.current().cancelRequested;
  }

  /** The run's DocStatus once it ends (the Temporal UI filters on it); not for a run that continues as new. */
  const finalStatus = (status: 'completed' | 'cancelled' | 'failed'): void => {
    if (patched(SOURCE_PATCHES.finalStatus)) upsertSearchAttributes([{ key: docStatusKey, value: status }]);
    show();
  };

  try {
    const result = await run();
    finalStatus('completed');
    return result;
  } catch (err) {
    if (!isCancellation(err)) {
      // Continue-as-new travels as an error too: that run goes on.
      if (!(err instanceof ContinueAsNew)) finalStatus('failed');
      throw err;
    }
    cancelling = true;
    // The scope's cancellation reached every document workflow this run started; wait until each has cleaned up and
    // closed, so a cancelled run leaves nothing behind it, then end cancelled.
    await CancellationScope.nonCancellable(() => condition(() => inFlight === 0));
    finalStatus('cancelled');
    throw err;
  }

  async function run(): Promise<SourceCounts> {
    if (input.phase !== 'sweep') {
      const page = await acts.listSourcePage.executeWithOptions(
        { summary: stepSummary(`list page ${pages} of ${displayUri(sourceUri)}`) },
        [{ pipeline, sourceUri, cursor: input.cursor, pageSize: input.pageSize }],
      );
      counts.listed += page.items.length;
      show();
      await runDocuments(
        page.items.map((i) => ({ uri: i.uri, workflowId: i.workflowId, event: { kind: 'upsert', sourceVersion: i.version } })),
      );
      if (page.cursor) {
        await continueAsNew<typeof sourceWorkflow>({
          ...input,
          cursor: page.cursor,
          pages,
          counts,
          paused,
          maxInFlight,
          startedAt,
        });
      }
      if (input.sweep === false) {
        done = true;
        show();
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
        startedAt,
      });
    }

    // Sweep: documents the ledger holds under this prefix that the source no longer has are deleted everywhere, so a
    // delete whose event was lost (or never sent) still happens at the next run.
    const removed = await acts.findRemoved.executeWithOptions(
      { summary: stepSummary(`find documents removed from ${displayUri(sourceUri)}`) },
      [{ pipeline, sourceUri, after: input.cursor, limit: input.pageSize }],
    );
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
        startedAt,
      });
    }
    done = true;
    show();
    return counts;
  }
}

function record(counts: SourceCounts, o: DocOutcome): void {
  counts[o.status]++;
  counts.chunks += o.status === 'ingested' ? o.chunks : 0;
  counts.cached += o.cached;
  for (const [sink, n] of Object.entries(o.upserted)) counts.upserted[sink] = (counts.upserted[sink] ?? 0) + n;
}
