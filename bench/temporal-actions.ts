import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

// Temporal Cloud bills by Actions. This counts them from event histories the way Temporal Cloud's own "Billable
// Actions" estimate does (docs.temporal.io/cloud/actions), so a run on the local dev server says what the same run
// would cost in Actions on Cloud, per kind, and which step drives it:
// - a workflow started (client start, child start, Continue-As-New): 1; a child start is 2 in all (the parent's
//   intent and the child's execution), counted here as the parent's initiated event plus the child's started event;
// - a Signal-With-Start: 1 in all, whether or not it started the workflow (its Started and Signaled events are one);
// - an Activity started or retried: 1 per attempt (the Started event carries the attempt number);
// - a Timer started, a Search Attribute upsert (not one that only sets TemporalChangeVersion), a Signal received, an
//   Update accepted, a Workflow Execution Options update: 1 each;
// - Local Activities and side effects: 1 per Workflow Task that recorded any marker (patch markers excluded).
// Not in a history, so not counted here either: Queries, Activity Heartbeats (counted from the server's metrics by
// bench:pipeline), rejected Updates, Schedules, Export.

/** One event of a history in the JSON form of historyToJSON (enum names as strings). */
export interface HistoryEventJson {
  eventId?: string;
  eventType?: string;
  [attributes: string]: unknown;
}

export interface ActionCounts {
  workflowsStarted: number;
  childWorkflowsStarted: number;
  activityAttempts: number;
  timers: number;
  searchAttributeUpserts: number;
  signals: number;
  updates: number;
  localActivityTasks: number;
  optionsUpdates: number;
}

export const emptyActionCounts = (): ActionCounts => ({
  workflowsStarted: 0,
  childWorkflowsStarted: 0,
  activityAttempts: 0,
  timers: 0,
  searchAttributeUpserts: 0,
  signals: 0,
  updates: 0,
  localActivityTasks: 0,
  optionsUpdates: 0,
});

export function totalActions(c: ActionCounts): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

export function addActionCounts(a: ActionCounts, b: ActionCounts): ActionCounts {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof ActionCounts)[]) out[k] += b[k];
  return out;
}

const type = (e: HistoryEventJson | undefined) => e?.eventType?.replace(/^EVENT_TYPE_/, '');
const attrs = (e: HistoryEventJson, key: string) => (e[key] ?? {}) as Record<string, unknown>;

/** The billable Actions of one workflow run's history (one run: a Continue-As-New run is a history of its own). */
export function countActions(events: readonly HistoryEventJson[]): ActionCounts {
  const c = emptyActionCounts();
  const markerTasks = new Set<string>();
  // A Signal-With-Start writes Started then Signaled before the first Workflow Task: one Action for both.
  const signalWithStart = type(events[0]) === 'WORKFLOW_EXECUTION_STARTED' && type(events[1]) === 'WORKFLOW_EXECUTION_SIGNALED';
  events.forEach((e, i) => {
    switch (type(e)) {
      case 'WORKFLOW_EXECUTION_STARTED':
        c.workflowsStarted++;
        break;
      case 'START_CHILD_WORKFLOW_EXECUTION_INITIATED':
        c.childWorkflowsStarted++;
        break;
      case 'ACTIVITY_TASK_STARTED': {
        const attempt = Number(attrs(e, 'activityTaskStartedEventAttributes').attempt ?? 1);
        c.activityAttempts += Number.isFinite(attempt) && attempt > 0 ? attempt : 1;
        break;
      }
      case 'TIMER_STARTED':
        c.timers++;
        break;
      case 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES': {
        const sa = attrs(e, 'upsertWorkflowSearchAttributesEventAttributes').searchAttributes as
          { indexedFields?: Record<string, unknown> } | undefined;
        const keys = Object.keys(sa?.indexedFields ?? {});
        if (keys.some((k) => k !== 'TemporalChangeVersion')) c.searchAttributeUpserts++;
        break;
      }
      case 'WORKFLOW_EXECUTION_SIGNALED':
        if (!(signalWithStart && i === 1)) c.signals++;
        break;
      case 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED':
        c.updates++;
        break;
      case 'WORKFLOW_EXECUTION_OPTIONS_UPDATED':
        c.optionsUpdates++;
        break;
      case 'MARKER_RECORDED': {
        const a = attrs(e, 'markerRecordedEventAttributes');
        if (a.markerName === 'core_patch') break;
        markerTasks.add(String(a.workflowTaskCompletedEventId ?? e.eventId));
        break;
      }
    }
  });
  c.localActivityTasks = markerTasks.size;
  return c;
}

/** The Actions of every run a visibility query matches, summed per workflow type. */
export async function actionsOfRuns(
  client: Client,
  query: string,
): Promise<{ runs: number; byWorkflow: Record<string, ActionCounts> }> {
  const byWorkflow: Record<string, ActionCounts> = {};
  let runs = 0;
  for await (const wf of client.workflow.list({ query })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const { events = [] } = JSON.parse(historyToJSON(history)) as { events?: HistoryEventJson[] };
    byWorkflow[wf.type] = addActionCounts(byWorkflow[wf.type] ?? emptyActionCounts(), countActions(events));
    runs++;
  }
  return { runs, byWorkflow };
}

/**
 * Activity heartbeats the Temporal server received for `namespace`, from its Prometheus text (`service_requests` of
 * the frontend's RecordActivityTaskHeartbeat and …ById operations); undefined when the server's metrics are not there.
 */
export async function heartbeatsReceived(metricsUrl: string, namespace: string): Promise<number | undefined> {
  let text: string;
  try {
    const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    text = await res.text();
  } catch {
    return undefined;
  }
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('service_requests{')) continue;
    if (!/operation="RecordActivityTaskHeartbeat(ById)?"/.test(line)) continue;
    if (!line.includes(`namespace="${namespace}"`) || !line.includes('service_name="frontend"')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
