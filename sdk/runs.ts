import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionInfo,
  type WorkflowHandle,
} from '@temporalio/client';
import { sourceUriKey } from '../workflows/search-attributes.ts';
import type { RunControlState } from '../workflows/run-controls.ts';
import { pauseUpdate, resumeUpdate, throttleUpdate } from '../workflows/source.ts';
import { SearchAttr, type PipelineRef } from '../workflows/types.ts';

/** A control the run refused (an invalid throttle, a run being cancelled) or a run that is not there to control. */
export class RunControlError extends Error {
  override name = 'RunControlError';
}

/** The controls of one source run, as `IngestHandle` offers them. */
export interface RunControls {
  /** Stops starting document workflows (those in flight finish). Resolves with the run's new state. */
  pause(): Promise<RunControlState>;
  resume(): Promise<RunControlState>;
  /** Sets how many document workflows run at once (an integer from 1 to 1000); refused values throw RunControlError. */
  throttle(maxInFlight: number): Promise<RunControlState>;
  /**
   * Requests cancellation: the run stops starting documents, cancels those it started (their artifacts are removed)
   * and ends cancelled. Resolves once Temporal accepted the request; `result()` then rejects.
   */
  cancel(): Promise<void>;
}

export function runControls(handle: WorkflowHandle): RunControls {
  return {
    pause: () => control(handle, () => handle.executeUpdate(pauseUpdate)),
    resume: () => control(handle, () => handle.executeUpdate(resumeUpdate)),
    throttle: (n) => control(handle, () => handle.executeUpdate(throttleUpdate, { args: [n] })),
    cancel: () => control(handle, () => handle.cancel().then(() => undefined)),
  };
}

async function control<T>(handle: WorkflowHandle, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new RunControlError(err.cause?.message ?? err.message, { cause: err });
    if (err instanceof WorkflowNotFoundError) {
      throw new RunControlError(`no running source run ${handle.workflowId}`, { cause: err });
    }
    throw err;
  }
}

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed-out' | 'unknown';

/** One source run: a chain of executions linked by continue-as-new (one per page), reported as one. */
export interface RunSummary {
  workflowId: string;
  /** The run id of the chain's latest execution. */
  runId: string;
  sourceUri: string;
  status: RunStatus;
  /** When the chain's first execution started (ISO). */
  startTime: string;
  /** When the latest execution closed, if it has (ISO). */
  closeTime?: string;
}

/** The visibility query of this pipeline version's and tenant's source runs (search attributes of `sourceRunOptions`). */
export function sourceRunsQuery(ref: Pick<PipelineRef, 'name' | 'version' | 'tenant'>): string {
  const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return [
    `WorkflowType = "sourceWorkflow"`,
    `${SearchAttr.Pipeline} = ${q(`${ref.name}-v${ref.version}`)}`,
    `${SearchAttr.Tenant} = ${q(ref.tenant)}`,
  ].join(' AND ');
}

/** What `groupRuns` reads of an execution (a subset of the client's WorkflowExecutionInfo). */
export interface ExecutionRow {
  workflowId: string;
  runId: string;
  status: string;
  startTime: Date;
  closeTime?: Date;
  sourceUri?: string;
}

/**
 * Folds executions into runs: an execution that continued as new belongs to the same run as the next execution of
 * its workflow id. Newest run first.
 */
export function groupRuns(rows: ExecutionRow[]): RunSummary[] {
  const sorted = [...rows].sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  const open = new Map<string, ExecutionRow>();
  const runs: RunSummary[] = [];
  for (const row of sorted) {
    const first = open.get(row.workflowId) ?? row;
    if (row.status === 'CONTINUED_AS_NEW') {
      open.set(row.workflowId, first);
      continue;
    }
    open.delete(row.workflowId);
    runs.push(summary(first, row, runStatus(row.status)));
  }
  // A chain whose last execution is not listed yet (visibility lags behind continue-as-new) is still running.
  for (const first of open.values()) runs.push(summary(first, first, 'running'));
  return runs.sort((a, b) => b.startTime.localeCompare(a.startTime));
}

function summary(first: ExecutionRow, last: ExecutionRow, status: RunStatus): RunSummary {
  const run: RunSummary = {
    workflowId: last.workflowId,
    runId: last.runId,
    sourceUri: last.sourceUri ?? first.sourceUri ?? '',
    status,
    startTime: first.startTime.toISOString(),
  };
  if (status !== 'running' && last.closeTime) run.closeTime = last.closeTime.toISOString();
  return run;
}

function runStatus(name: string): RunStatus {
  switch (name) {
    case 'RUNNING':
    case 'COMPLETED':
    case 'FAILED':
    case 'CANCELLED':
    case 'TERMINATED':
      return name.toLowerCase() as RunStatus;
    case 'TIMED_OUT':
      return 'timed-out';
    default:
      return 'unknown';
  }
}

/**
 * The source runs of one pipeline version and tenant, newest first, from Temporal's visibility store (which lags a
 * moment behind a start). Reads at most `maxExecutions` executions (each page of a run is one).
 */
export async function listSourceRuns(
  client: Client,
  ref: Pick<PipelineRef, 'name' | 'version' | 'tenant'>,
  opts: { maxExecutions?: number } = {},
): Promise<RunSummary[]> {
  const max = opts.maxExecutions ?? 10_000;
  const rows: ExecutionRow[] = [];
  for await (const info of client.workflow.list({ query: sourceRunsQuery(ref) })) {
    rows.push(executionRow(info));
    if (rows.length >= max) break;
  }
  return groupRuns(rows);
}

function executionRow(info: WorkflowExecutionInfo): ExecutionRow {
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    status: info.status.name,
    startTime: info.startTime,
    closeTime: info.closeTime,
    sourceUri: info.typedSearchAttributes.get(sourceUriKey),
  };
}
