import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { countActions, type HistoryEventJson, totalActions } from './temporal-actions.ts';

const histories = join(import.meta.dirname, '..', 'test', 'replay', 'histories');
const recorded = (file: string): HistoryEventJson[] =>
  (JSON.parse(readFileSync(join(histories, file), 'utf8')) as { history: { events: HistoryEventJson[] } }).history.events;

let id = 0;
const ev = (eventType: string, attributes: Record<string, unknown> = {}): HistoryEventJson => ({
  eventId: String(++id),
  eventType: `EVENT_TYPE_${eventType}`,
  ...attributes,
});
const task = () => [ev('WORKFLOW_TASK_SCHEDULED'), ev('WORKFLOW_TASK_STARTED'), ev('WORKFLOW_TASK_COMPLETED')];

describe('Temporal Actions from a history (Temporal Cloud counting rules)', () => {
  it('a recorded document ingest: its start, four activities, two status upserts', () => {
    const c = countActions(recorded('2026-12-05.documentWorkflow.05.json'));
    assert.deepEqual(
      { ...c, total: totalActions(c) },
      {
        workflowsStarted: 1,
        childWorkflowsStarted: 0,
        activityAttempts: 4,
        timers: 0,
        searchAttributeUpserts: 2,
        signals: 0,
        updates: 0,
        localActivityTasks: 0,
        optionsUpdates: 0,
        total: 7,
      },
    );
  });

  it('a recorded delete by signal-with-start: start and signal are one Action; its timer counts', () => {
    const c = countActions(recorded('2026-12-05.documentWorkflow.09.json'));
    assert.equal(c.workflowsStarted, 1);
    assert.equal(c.signals, 0);
    assert.equal(c.activityAttempts, 2);
    assert.equal(c.timers, 1);
    assert.equal(c.searchAttributeUpserts, 2);
    assert.equal(totalActions(c), 6);
  });

  it('patch markers are free; a recorded source run counts its child starts', () => {
    const promote = countActions(recorded('2026-12-05.promoteIndexWorkflow.01.json'));
    assert.equal(promote.localActivityTasks, 0, 'core_patch markers are not Actions');
    const source = countActions(recorded('2026-12-05.sourceWorkflow.01.json'));
    assert.equal(source.childWorkflowsStarted, 2);
    assert.equal(source.updates, 1, 'the throttle update');
  });

  it('retries count per attempt, signals after the start count, TemporalChangeVersion-only upserts do not', () => {
    const c = countActions([
      ev('WORKFLOW_EXECUTION_STARTED'),
      ...task(),
      ev('ACTIVITY_TASK_SCHEDULED'),
      ev('ACTIVITY_TASK_STARTED', { activityTaskStartedEventAttributes: { attempt: 3 } }),
      ev('ACTIVITY_TASK_COMPLETED'),
      ev('WORKFLOW_EXECUTION_SIGNALED'),
      ev('WORKFLOW_EXECUTION_SIGNALED'),
      ...task(),
      ev('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', {
        upsertWorkflowSearchAttributesEventAttributes: { searchAttributes: { indexedFields: { TemporalChangeVersion: {} } } },
      }),
      ev('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', {
        upsertWorkflowSearchAttributesEventAttributes: {
          searchAttributes: { indexedFields: { TemporalChangeVersion: {}, DocStatus: {} } },
        },
      }),
      ev('WORKFLOW_EXECUTION_UPDATE_ACCEPTED'),
      ev('WORKFLOW_EXECUTION_OPTIONS_UPDATED'),
      ev('WORKFLOW_EXECUTION_CONTINUED_AS_NEW'),
    ]);
    assert.equal(c.activityAttempts, 3);
    assert.equal(c.signals, 2, 'signals that did not start the workflow');
    assert.equal(c.searchAttributeUpserts, 1);
    assert.equal(c.updates, 1);
    assert.equal(c.optionsUpdates, 1);
    assert.equal(totalActions(c), 1 + 3 + 2 + 1 + 1 + 1);
  });

  it('local activities: one Action per Workflow Task that recorded markers', () => {
    const marker = (taskId: string, markerName = 'LocalActivity') =>
      ev('MARKER_RECORDED', { markerRecordedEventAttributes: { markerName, workflowTaskCompletedEventId: taskId } });
    const c = countActions([
      ev('WORKFLOW_EXECUTION_STARTED'),
      marker('4'),
      marker('4'),
      marker('4', 'core_patch'),
      marker('9'),
      marker('12', 'core_patch'),
    ]);
    assert.equal(c.localActivityTasks, 2);
  });
});
