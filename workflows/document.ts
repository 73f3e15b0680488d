import {
  type ActivityFunctionWithOptions,
  type ActivityInterfaceFor,
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EmbedActivities, IngestActivities } from '../activities/index.ts';
import { docStatusKey } from './search-attributes.ts';
import { activitySummary, documentStepDetails } from './summaries.ts';
import type { DocEvent, DocOutcome, DocumentWorkflowInput } from './types.ts';

export const docEventSignal = defineSignal<[DocEvent]>('docEvent');
export const docStateQuery = defineQuery<{ status: string; pending: number; applied: number; last?: DocOutcome }>('state');

/**
 * Patch ids (Temporal `patched()`): histories recorded before a change replay the old logic.
 * Cancelled status: a document cancelled before an outcome is recorded `cancelled` in the ledger (it kept its old
 * record before).
 * Same status: a DocStatus the run already has (its starter sets `processing`) is not upserted again (one Temporal
 * Action less per document).
 */
export const DOCUMENT_PATCHES = {
  cancelledStatus: 'document-cancelled-status',
  sameStatus: 'document-same-status',
} as const;

/** Events applied per run before continuing as new, so a busy document's history stays short. */
const EVENTS_PER_RUN = 50;

const NON_RETRYABLE = [
  'UnsupportedFormat',
  'DocumentTooLarge',
  'CorruptDocument',
  'EmptyDocument',
  'InvalidEncoding',
  'InvalidInput',
  'SinkRejected',
  'PipelineMismatch',
  'SourceForbidden',
];

/** One retry profile per kind of step; each call site gets its own activity and so its own retry budget. */
function profile<A extends object>(
  queue: string,
  retry: { initialInterval: string; maximumInterval: string; maximumAttempts: number },
  startToClose = '30 minutes',
) {
  return proxyActivities<A>({
    taskQueue: queue,
    startToCloseTimeout: startToClose,
    heartbeatTimeout: '30 seconds',
    // On cancellation, wait for a running activity to stop: one that finishes anyway must not write artifacts after
    // the workflow cleaned up.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...retry, backoffCoefficient: 2, nonRetryableErrorTypes: NON_RETRYABLE },
  });
}

const ingestActivities = (queue: string) =>
  profile<IngestActivities>(queue, { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 8 });

// Rate limits slow a document down, they never fail it: retry for long (200 attempts at up to 2 minutes apart is
// about 6.5 hours), honouring the server's Retry-After. Hosted embedders also wait out short limits inside the call.
const embedActivities = (queue: string) =>
  profile<EmbedActivities>(
    queue,
    { initialInterval: '2 seconds', maximumInterval: '2 minutes', maximumAttempts: 200 },
    '60 minutes',
  );

/** Each sink gets its own activity and retry budget: one sink's outage never blocks or re-embeds the others. */
const sinkActivities = (queue: string) =>
  profile<IngestActivities>(queue, { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 10 });

/**
 * The entity workflow of one document (`doc:{tenant}:{sourceUri}`): applies its upsert and delete events one at a
 * time, in arrival order. Events that pile up while one is applied collapse into the newest, since applying an event
 * always reads the source's current state.
 */
export async function documentWorkflow(input: DocumentWorkflowInput): Promise<DocOutcome> {
  const { pipeline, sourceUri } = input;
  // Each call carries a summary for the UI naming this document (and the sink): `upsert doc.pdf -> weaviate`.
  const acts = summarised(ingestActivities(pipeline.ingestQueue), sourceUri);
  const sinks = summarised(sinkActivities(pipeline.ingestQueue), sourceUri);
  const embed = summarised(embedActivities(pipeline.embedQueue), sourceUri);
  const pending: DocEvent[] = [...input.pending];
  let applied = 0;
  let status = 'processing';
  let last: DocOutcome | undefined;
  let step = 'waiting for an event';

  /** The UI's current details: the step under way (never history: replays and determinism are untouched). */
  const showStep = (s: string): void => {
    step = s;
    setCurrentDetails(documentStepDetails(status, s, applied, pending.length));
  };

  // Defined before the handlers: a signal that arrived with the start is delivered as its handler is set.
  setHandler(docEventSignal, (e) => {
    pending.push(e);
    showStep(step);
  });
  setHandler(docStateQuery, () => ({ status, pending: pending.length, applied, last }));

  const setStatus = (s: string): void => {
    status = s;
    // Both starters (a source's child start, the SDK's Signal-With-Start) set `processing`: a first batch changes
    // nothing there, and an upsert is a billed Action.
    if (workflowInfo().typedSearchAttributes.get(docStatusKey) === s && patched(DOCUMENT_PATCHES.sameStatus)) return;
    upsertSearchAttributes([{ key: docStatusKey, value: s }]);
  };

  async function applyUpsert(event: DocEvent, repair = false): Promise<DocOutcome> {
    showStep(repair ? 'reading again to repair the sinks' : 'fetching and parsing');
    const fetched = await acts.fetchAndParse({
      pipeline,
      sourceUri,
      sourceVersion: event.sourceVersion,
      eventTime: event.eventTime,
      ...(repair ? { repair } : {}),
    });
    if (fetched.kind === 'gone') return applyDelete({ kind: 'delete', eventTime: event.eventTime }, false);
    // Older than the event the ledger last applied, and the object unchanged since: the newer one already read it.
    if (fetched.kind === 'stale') return { status: 'unchanged', chunks: 0, upserted: {}, cached: 0 };
    if (fetched.kind === 'unchanged') return { status: 'unchanged', chunks: fetched.chunks, upserted: {}, cached: 0 };
    let work = fetched.work;
    let committed = false;
    try {
      showStep(`embedding ${fetched.chunks} chunks`);
      const embedded = await embed.embedChunks({ pipeline, work });
      work = embedded.work;
      showStep(`writing to ${pipeline.sinks.join(', ')}`);
      const results = await Promise.allSettled(
        pipeline.sinks.map((sink) => sinks.upsertToSink({ pipeline, sourceUri, sink, work })),
      );
      // Cancelled before any sink was written: nothing changed, so there is nothing to record.
      const cancelled = results.find((r) => r.status === 'rejected' && isCancellation(r.reason));
      if (cancelled && results.every((r) => r.status === 'rejected')) throw (cancelled as PromiseRejectedResult).reason;
      const sinkResults = Object.fromEntries(
        results.map((r, i) => [
          pipeline.sinks[i]!,
          r.status === 'fulfilled' ? { ok: true, upserted: r.value.upserted } : { ok: false, error: failureMessage(r.reason) },
        ]),
      );
      // Some sink holds the new chunks: the ledger must say so, even when the workflow is being cancelled.
      showStep('recording in the ledger');
      await CancellationScope.nonCancellable(() => acts.commitDocument({ pipeline, sourceUri, work, sinks: sinkResults }));
      committed = true;
      const failed = Object.entries(sinkResults).filter(([, r]) => !r.ok);
      const upserted = Object.fromEntries(Object.entries(sinkResults).map(([k, r]) => [k, r.upserted ?? 0]));
      if (failed.length > 0) {
        const message = failed.map(([k, r]) => `${k}: ${r.error}`).join('; ');
        return {
          status: 'failed',
          chunks: fetched.chunks,
          upserted,
          cached: embedded.cached,
          error: { type: 'SinkFailed', message },
        };
      }
      return { status: 'ingested', chunks: fetched.chunks, upserted, cached: embedded.cached };
    } finally {
      // commitDocument removes the artifacts itself; on any other path they are removed here, cancelled or not.
      if (!committed) await CancellationScope.nonCancellable(() => acts.cleanupWork({ work }));
    }
  }

  async function applyDelete(event: DocEvent, force: boolean): Promise<DocOutcome> {
    showStep('deleting');
    if (!force && (await acts.sourceHas({ pipeline, sourceUri }))) {
      // The object exists again (a newer create overtook this delete): the latest state is "present". Its version is
      // not the one the delete named, so the upsert HEADs it.
      return applyUpsert({ kind: 'upsert', eventTime: event.eventTime });
    }
    await Promise.all(pipeline.sinks.map((sink) => sinks.deleteFromSink({ pipeline, sourceUri, sink })));
    await acts.recordDeleted({ pipeline, sourceUri, eventTime: event.eventTime });
    return { status: 'deleted', chunks: 0, upserted: {}, cached: 0 };
  }

  while (true) {
    if (pending.length === 0 && !(input.lingerMs && (await condition(() => pending.length > 0, input.lingerMs)))) break;
    const batch = pending.splice(0, pending.length);
    // The newest event decides (by event time when events carry one, else by arrival).
    const event = newest(batch);
    const force = batch.some((e) => e.kind === 'delete' && e.force) && event.kind === 'delete';
    // A repair asked for in the batch is kept whichever event decides: a plain upsert would find the ledger up to date.
    const repair = batch.some((e) => e.repair);
    setStatus('processing');
    // Workflow time (deterministic): a ledger record written after this moment holds this batch's own outcome.
    const startedAt = new Date().toISOString();
    try {
      last = event.kind === 'delete' ? await applyDelete(event, force) : await applyUpsert(event, repair);
    } catch (err) {
      // Cancelled (the source run was, or an operator): the ledger says so, and keeps the chunks of the version before
      // (the sinks still hold them); the next run ingests the document again.
      if (isCancellation(err)) {
        if (patched(DOCUMENT_PATCHES.cancelledStatus)) {
          await CancellationScope.nonCancellable(() => acts.recordCancelled({ pipeline, sourceUri, startedAt }));
        }
        setStatus('cancelled');
        throw err;
      }
      const error = { type: failureType(err), message: failureMessage(err) };
      await acts.recordFailure({ pipeline, sourceUri, error });
      last = { status: 'failed', chunks: 0, upserted: {}, cached: 0, error };
    }
    setStatus(last.status);
    applied += batch.length;
    // Failure types only: a message may quote what a server echoed back.
    showStep(last.status === 'failed' ? (last.error?.type ?? 'Error') : `${last.chunks} chunks`);
    if (pending.length > 0 && (applied >= EVENTS_PER_RUN || workflowInfo().continueAsNewSuggested)) {
      await continueAsNew<typeof documentWorkflow>({ ...input, pending });
    }
  }
  return last ?? { status: 'unchanged', chunks: 0, upserted: {}, cached: 0 };
}

/** What each activity does to a document, as its summary in the UI says it (`upsert doc.pdf -> weaviate`). */
const VERBS: Record<string, string> = {
  fetchAndParse: 'fetch and parse',
  embedChunks: 'embed the chunks of',
  upsertToSink: 'upsert',
  commitDocument: 'commit',
  cleanupWork: 'remove the artifacts of',
  sourceHas: 'check the source still has',
  deleteFromSink: 'delete',
  recordDeleted: 'record the deletion of',
  recordFailure: 'record the failure of',
  recordCancelled: 'record the cancellation of',
};

/**
 * The same activities, each call scheduled with a summary: the activity's verb, the document's name and, when its
 * input names a sink, the sink. Call sites stay plain calls.
 */
function summarised<A extends object>(proxy: ActivityInterfaceFor<A>, uri: string): A {
  const handler: ProxyHandler<ActivityInterfaceFor<A>> = {
    get(target, name, receiver) {
      const fn = Reflect.get(target, name, receiver) as ActivityFunctionWithOptions<(...args: unknown[]) => Promise<unknown>>;
      if (typeof name !== 'string') return fn;
      return (...args: unknown[]) => {
        const sink = (args[0] as { sink?: unknown } | undefined)?.sink;
        return fn.executeWithOptions(
          { summary: activitySummary(VERBS[name] ?? name, uri, typeof sink === 'string' ? sink : undefined) },
          args,
        );
      };
    },
  };
  return new Proxy(proxy, handler) as unknown as A;
}

/** The last event with the greatest event time (events without one count as arriving in order after timed ones). */
function newest(batch: DocEvent[]): DocEvent {
  let best = batch[batch.length - 1]!;
  for (const e of batch) {
    if (e.eventTime !== undefined && best.eventTime !== undefined && e.eventTime > best.eventTime) best = e;
  }
  return best;
}

function rootCause(err: unknown): unknown {
  return err instanceof ActivityFailure && err.cause ? err.cause : err;
}

function failureType(err: unknown): string {
  const c = rootCause(err);
  return c instanceof ApplicationFailure && c.type ? c.type : 'Error';
}

function failureMessage(err: unknown): string {
  const c = rootCause(err);
  return c instanceof Error ? c.message : String(c);
}
