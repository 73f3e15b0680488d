import {
  ActivityFailure,
  ApplicationFailure,
  ContinueAsNew,
  condition,
  continueAsNew,
  defineQuery,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EmbedActivities, IngestActivities } from '../activities/index.ts';
import { startDocument } from './children.ts';
import { docStatusKey } from './search-attributes.ts';
import { reconcileProgressDetails, stepSummary } from './summaries.ts';
import { emptyDrift, type ReconcileInput, type ReconcileReport } from './types.ts';

export const reconcileReportQuery = defineQuery<ReconcileReport>('report');

/** Artifacts younger than this are never the janitor's: their run may still be retrying an activity. */
export const JANITOR_AGE_MS = 24 * 3_600_000;

/** Continue as new past this many history events (a page of repairs adds a few per document). */
const HISTORY_LIMIT = 8_000;

/**
 * Reconciles one pipeline version's sinks with its ledger, for one tenant: for each sink, the index is checked (a
 * dropped one is made again, a lost alias restored), orphan chunks are deleted, then the ledger's live documents are
 * checked page by page against every sink and those with missing chunks are re-ingested by their own workflows (a
 * `repair` event: read and chunked again, vectors from the embedding cache). Finally the janitor removes stale
 * intermediate artifacts. A dry run counts and changes nothing. A sink that stays unreachable through the retries is
 * reported with its error and left out of the later steps; the ledger is never written by reconciliation itself.
 */
export async function reconcileWorkflow(input: ReconcileInput): Promise<ReconcileReport> {
  const { pipeline, dryRun } = input;
  // A sink that is down is retried for about a minute, then reported: reconciliation must not hang on it for hours.
  const acts = proxyActivities<IngestActivities>({
    taskQueue: pipeline.ingestQueue,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '2 minutes',
    retry: {
      initialInterval: '2 seconds',
      maximumInterval: '20 seconds',
      backoffCoefficient: 2,
      maximumAttempts: 6,
      nonRetryableErrorTypes: ['InvalidInput', 'SinkRejected', 'PipelineMismatch'],
    },
  });
  const embed = proxyActivities<EmbedActivities>({
    taskQueue: pipeline.embedQueue,
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 20 },
  });
  const report: ReconcileReport = input.report ?? {
    dryRun,
    sinks: Object.fromEntries(pipeline.sinks.map((s) => [s, emptyDrift()])),
    documents: 0,
    repairs: { started: 0, ingested: 0, failed: 0, handedOff: 0, chunks: 0, cached: 0 },
    janitor: { removed: 0, kept: 0 },
    phase: 'index',
  };
  setHandler(reconcileReportQuery, () => report);
  /** The UI's current details: the phase and what was found so far (kept in the worker, never in history). */
  const show = (): void => setCurrentDetails(reconcileProgressDetails(report));
  const about = (text: string) => ({ summary: stepSummary(text) });
  show();
  // The cursor carried across continue-as-new belongs to the phase this execution starts in.
  const startPhase = report.phase;
  const healthy = (): string[] => pipeline.sinks.filter((s) => report.sinks[s]!.error === undefined);
  const fail = (sink: string, err: unknown): void => {
    report.sinks[sink]!.error = messageOf(err);
  };
  const next = (over: Partial<ReconcileInput>): Promise<never> =>
    continueAsNew<typeof reconcileWorkflow>({ ...input, report, absent, ...over });
  const historyFull = (): boolean => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > HISTORY_LIMIT;

  // Sinks whose index for this version is gone: a dry run counts all their chunks missing without asking them.
  const absent: string[] = [...(input.absent ?? [])];
  if (report.phase === 'index') {
    let shape: Promise<{ dims: number; metric: 'cosine' | 'dot' | 'l2' }> | undefined;
    await Promise.all(
      pipeline.sinks.map(async (sink) => {
        try {
          const check = await acts.reconcileIndex.executeWithOptions(about(`check the index in ${sink}`), [
            { pipeline, sink, dryRun },
          ]);
          if (check.exists) return;
          if (dryRun) {
            absent.push(sink);
            return;
          }
          shape ??= embed.describeEmbedder.executeWithOptions(about('describe the embedder'), [{ pipeline }]);
          await acts.rebuildIndex.executeWithOptions(about(`rebuild the index in ${sink}`), [
            { pipeline, sink, ...(await shape) },
          ]);
          report.sinks[sink]!.rebuilt = 1;
        } catch (err) {
          fail(sink, err);
        }
      }),
    );
    report.phase = 'orphans';
    show();
  }

  if (report.phase === 'orphans') {
    let cursor = startPhase === 'orphans' ? input.cursor : undefined;
    let deletedSince = startPhase === 'orphans' ? (input.deletedSince ?? 0) : 0;
    for (let i = input.sinkIndex ?? 0; i < pipeline.sinks.length; i++, cursor = undefined, deletedSince = 0) {
      const sink = pipeline.sinks[i]!;
      if (report.sinks[sink]!.error !== undefined || absent.includes(sink)) continue;
      const drift = report.sinks[sink]!;
      try {
        do {
          const scan = await acts.reconcileOrphans.executeWithOptions(about(`find orphan chunks in ${sink}`), [
            {
              pipeline,
              sink,
              dryRun,
              ...(cursor === undefined ? {} : { cursor, deletedSince }),
              ...(input.sourcePrefix ? { sourcePrefix: input.sourcePrefix } : {}),
            },
          ]);
          drift.orphans += scan.orphans;
          drift.repaired += scan.deleted;
          drift.skipped += scan.skipped;
          cursor = scan.cursor;
          deletedSince = scan.deletedSince ?? 0;
          show();
          if (cursor !== undefined && historyFull()) await next({ sinkIndex: i, cursor, deletedSince });
        } while (cursor !== undefined);
      } catch (err) {
        if (err instanceof ContinueAsNew) throw err;
        fail(sink, err);
      }
    }
    report.phase = 'missing';
    show();
    if (historyFull()) await next({ cursor: undefined, sinkIndex: undefined, deletedSince: undefined });
  }

  if (report.phase === 'missing') {
    let after = startPhase === 'missing' ? input.cursor : undefined;
    for (;;) {
      let page;
      try {
        page = await acts.reconcileMissing.executeWithOptions(about('find documents with chunks missing from the sinks'), [
          {
            pipeline,
            sinks: healthy().filter((s) => !absent.includes(s)),
            absent,
            limit: input.pageSize,
            ...(after === undefined ? {} : { after }),
            ...(input.sourcePrefix ? { sourcePrefix: input.sourcePrefix } : {}),
          },
        ]);
      } catch (err) {
        // Which sink failed is not known here: each is checked on its own, and the unreachable ones are left out.
        const before = healthy().length;
        await Promise.all(
          healthy().map((sink) => acts.reconcileIndex({ pipeline, sink, dryRun: true }).catch((e: unknown) => fail(sink, e))),
        );
        if (healthy().length === before) throw err;
        continue;
      }
      report.documents += page.documents;
      for (const [sink, n] of Object.entries(page.missing)) report.sinks[sink]!.missing += n;
      for (const d of page.docs) for (const sink of Object.keys(d.missing)) report.sinks[sink]!.documents++;
      show();
      if (!dryRun) await repair(page.docs);
      show();
      after = page.next;
      if (after === undefined) break;
      if (historyFull()) await next({ cursor: after });
    }
    report.phase = 'janitor';
    show();
  }

  if (report.phase === 'janitor') {
    try {
      report.janitor = await acts.sweepArtifacts.executeWithOptions(about('remove stale artifacts'), [
        { pipeline, dryRun, olderThanMs: JANITOR_AGE_MS },
      ]);
    } catch (err) {
      // The janitor is housekeeping: its failure does not fail the reconciliation, it shows in the report.
      report.janitor = { ...report.janitor, error: messageOf(err) };
    }
    report.phase = 'done';
  }
  upsertSearchAttributes([{ key: docStatusKey, value: 'completed' }]);
  show();
  return report;

  /** Re-ingests each document with missing chunks (at most maxInFlight at once) and counts what came back whole. */
  async function repair(docs: Array<{ uri: string; workflowId: string; missing: Record<string, number> }>): Promise<void> {
    let inFlight = 0;
    const running: Array<Promise<void>> = [];
    for (const d of docs) {
      await condition(() => inFlight < input.maxInFlight);
      report.repairs.started++;
      const started = await startDocument(pipeline, { ...d, event: { kind: 'upsert', repair: true } });
      if (started.kind === 'handedOff') {
        report.repairs.handedOff++;
        continue;
      }
      inFlight++;
      running.push(
        started.result
          .then(
            (outcome) => {
              if (outcome.status !== 'ingested') return void report.repairs.failed++;
              report.repairs.ingested++;
              report.repairs.chunks += outcome.chunks;
              report.repairs.cached += outcome.cached;
              for (const [sink, n] of Object.entries(d.missing)) report.sinks[sink]!.repaired += n;
            },
            () => void report.repairs.failed++,
          )
          .finally(() => void inFlight--),
      );
    }
    await Promise.all(running);
  }
}

function messageOf(err: unknown): string {
  const c = err instanceof ActivityFailure && err.cause ? err.cause : err;
  if (c instanceof ApplicationFailure && c.type) return `${c.type}: ${c.message}`;
  return c instanceof Error ? c.message : String(c);
}
