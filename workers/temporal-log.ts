import type { Context } from '@temporalio/activity';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptors,
  ActivityOutboundCallsInterceptor,
  GetLogAttributesInput,
  LogLevel,
  LogMetadata,
  Logger,
  Next,
} from '@temporalio/worker';
import type { IngestActivities } from '../activities/index.ts';
import { boundedMessage, type Logger as Pino } from '../connectors/shared/log.ts';
import { documentKey } from '../pipeline/ids.ts';

const PINO_LEVEL = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** The Temporal level that lets through what a pino level does (the SDK core filters its own logs with it). */
export function temporalLevel(level: string): LogLevel {
  const l = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN' } as Record<string, LogLevel>;
  return l[level] ?? 'ERROR';
}

/**
 * The Temporal SDK's logger (worker runtime, core, workflow and activity context loggers) writing through ours. The
 * context loggers' fields stay (workflowId, runId, workflowType, activityId, activityType, attempt, taskQueue...);
 * an activity's `workflowRunId` is written as `runId`, the name workflow lines use. Left out: an activity's
 * `taskToken` (a capability to complete the activity, not an id to search by) and symbol keys (the SDK's timestamp:
 * the line's own time is when it was written).
 */
export class TemporalLogger implements Logger {
  readonly #pino: Pino;

  constructor(pino: Pino) {
    this.#pino = pino;
  }

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const l = PINO_LEVEL[level] ?? 'info';
    if (!this.#pino.isLevelEnabled(l)) return;
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(meta ?? {})) if (k !== 'taskToken') fields[k === 'workflowRunId' ? 'runId' : k] = v;
    this.#pino[l](fields, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/**
 * The document and sink an activity works on, from its input (`{ pipeline, sourceUri, sink, work }`): `sourceUri`,
 * `docId` (the document's key in blob paths and the ledger: a hash of tenant and uri) when the activity serves a
 * document workflow, and `sink`. Only ids: never other input fields.
 */
export function documentFields(workflowType: string | undefined, arg: unknown): Record<string, string> {
  if (!arg || typeof arg !== 'object') return {};
  const a = arg as { pipeline?: { tenant?: unknown }; sourceUri?: unknown; sink?: unknown; work?: { prefix?: unknown } };
  const out: Record<string, string> = {};
  if (typeof a.sourceUri === 'string') out.sourceUri = a.sourceUri;
  const tenant = a.pipeline?.tenant;
  if (workflowType === 'documentWorkflow' && typeof a.sourceUri === 'string' && typeof tenant === 'string')
    out.docId = documentKey(tenant, a.sourceUri);
  // Work folders are `work/<tenant>/<docId>/<run>` (activities/fetch-and-parse.ts).
  else if (typeof a.work?.prefix === 'string') {
    const docId = a.work.prefix.split('/')[2];
    if (docId) out.docId = docId;
  }
  if (typeof a.sink === 'string') out.sink = a.sink;
  return out;
}

type Outcome = { level: 'info' | 'warn'; msg: string; fields: Record<string, unknown> };

/**
 * The document's outcome, told once, when the activity that records it in the ledger has done so: ingested (with
 * the sinks written), failed (failure type and a bounded message, per sink when sinks refused it), deleted, cancelled.
 */
export function documentOutcome(activityType: string, arg: unknown): Outcome | undefined {
  const a = (arg ?? {}) as {
    sinks?: Record<string, { ok?: boolean; error?: string }>;
    error?: { type?: string; message?: string };
  };
  if (activityType === ('commitDocument' satisfies keyof IngestActivities)) {
    const sinks = Object.entries(a.sinks ?? {});
    const failed = sinks.filter(([, r]) => !r.ok);
    if (failed.length === 0) return { level: 'info', msg: 'document ingested', fields: { sinks: sinks.map(([k]) => k) } };
    return {
      level: 'warn',
      msg: 'document failed',
      fields: {
        failureType: 'SinkFailed',
        failedSinks: Object.fromEntries(failed.map(([k, r]) => [k, boundedMessage(r.error ?? '')])),
      },
    };
  }
  if (activityType === ('recordFailure' satisfies keyof IngestActivities))
    return {
      level: 'warn',
      msg: 'document failed',
      fields: { failureType: a.error?.type, reason: boundedMessage(a.error?.message ?? '') },
    };
  if (activityType === ('recordDeleted' satisfies keyof IngestActivities))
    return { level: 'info', msg: 'document deleted', fields: {} };
  if (activityType === ('recordCancelled' satisfies keyof IngestActivities))
    return { level: 'info', msg: 'document cancelled', fields: {} };
  return undefined;
}

/**
 * Adds `documentFields` of the activity's input to every line its context logger writes, the SDK's own "Activity
 * completed" and "Activity failed" included ("Activity started" is written before the input is seen), and tells each
 * document's outcome (`documentOutcome`) once the ledger has it.
 */
export function activityLogFields(ctx: Context): ActivityInterceptors {
  let fields: Record<string, string> = {};
  const inbound: ActivityInboundCallsInterceptor = {
    async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
      fields = documentFields(ctx.info.inWorkflow ? ctx.info.workflowType : undefined, input.args[0]);
      const result = await next(input);
      const outcome = documentOutcome(ctx.info.activityType, input.args[0]);
      if (outcome) ctx.log[outcome.level](outcome.msg, outcome.fields);
      return result;
    },
  };
  const outbound: ActivityOutboundCallsInterceptor = {
    getLogAttributes(input: GetLogAttributesInput, next: Next<ActivityOutboundCallsInterceptor, 'getLogAttributes'>) {
      return next({ ...fields, ...input });
    },
  };
  return { inbound, outbound };
}
