import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, Runtime, Worker } from '@temporalio/worker';
import * as workflows from '../../workflows/index.ts';
import { workflowBundlePath } from '../../workers/bundle.ts';

/**
 * Histories recorded from real runs of every workflow type (`npm run record:histories`), replayed against the
 * workflow code as it is now. A change that makes running workflows take another path (a new activity, timer or
 * child before the old ones, a reordered call) fails here: such a change must go behind `patched()` (see README,
 * "Deploying new workflow code").
 */
const dir = join(import.meta.dirname, 'histories');
const root = join(import.meta.dirname, '..', '..');

interface Recorded {
  file: string;
  workflowId: string;
  type: string;
  history: unknown;
}

function recorded(): Recorded[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const r = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { workflowId: string; history: unknown };
      const type = (r.history as { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] })
        .events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
      assert.ok(type, `${file}: a history starts with WorkflowExecutionStarted`);
      return { file, workflowId: r.workflowId, type, history: r.history };
    });
}

async function replay(codePath: string, histories: Recorded[]) {
  const failures: string[] = [];
  let replayed = 0;
  for await (const r of Worker.runReplayHistories(
    { workflowBundle: { codePath }, replayName: 'replay-test' },
    histories.map((h) => ({ workflowId: h.workflowId, history: h.history })),
  )) {
    // One result per history, in order (several executions of one document share a workflow id).
    const h = histories[replayed++]!;
    assert.equal(r.workflowId, h.workflowId, 'results come in the order the histories went in');
    const file = h.file;
    if (r.error) failures.push(`${file}: ${r.error.name}: ${r.error.message}`);
  }
  return { replayed, failures };
}

describe('recorded workflow histories replay against the current workflow code', () => {
  const cache = mkdtempSync(join(tmpdir(), 'ragline-replay-'));
  let histories: Recorded[];

  before(() => {
    try {
      Runtime.install({
        logger: new DefaultLogger('ERROR'),
        // The replays the check below makes fail would each log a warning from the SDK's core.
        telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }), forward: {} } },
      });
    } catch {
      // installed already by another test in this process
    }
    histories = recorded();
  });
  after(() => rmSync(cache, { recursive: true, force: true }));

  it('covers every workflow type the workers register', () => {
    const types = new Set(histories.map((h) => h.type));
    for (const name of Object.keys(workflows))
      assert.ok(types.has(name), `no recorded history of ${name}: npm run record:histories`);
  });

  it('replays every history without a determinism violation', { timeout: 600_000 }, async () => {
    const { replayed, failures } = await replay(await workflowBundlePath(cache), histories);
    assert.equal(replayed, histories.length);
    assert.deepEqual(failures, []);
  });

  it('fails a change that would break running document workflows (the check itself works)', { timeout: 600_000 }, async () => {
    // The workflow sources with one timer added before a document's first activity: histories of real runs then
    // disagree with the commands the code issues.
    const copy = join(cache, 'changed', 'workflows');
    cpSync(join(root, 'workflows'), copy, { recursive: true });
    const doc = join(copy, 'document.ts');
    const source = readFileSync(doc, 'utf8');
    const changed = source.replace(
      'const fetched = await acts.fetchAndParse({',
      'await changedSleep(1);\n    const fetched = await acts.fetchAndParse({',
    );
    assert.notEqual(changed, source, 'the document workflow still fetches first');
    writeFileSync(doc, `import { sleep as changedSleep } from '@temporalio/workflow';\n${changed}`);
    const { code } = await bundleWorkflowCode({
      workflowsPath: join(copy, 'index.ts'),
      logger: new DefaultLogger('WARN'),
      // The copy lives outside the project: its imports resolve from the project's node_modules.
      webpackConfigHook: (config) => ({
        ...config,
        resolve: { ...config.resolve, modules: [join(root, 'node_modules'), 'node_modules'] },
      }),
    });
    const bundle = join(cache, 'changed.js');
    writeFileSync(bundle, code);
    const docs = histories.filter((h) => h.type === 'documentWorkflow');
    const { failures } = await replay(bundle, docs);
    // Every document history that fetched (upserts; a delete's path starts with other activities) now diverges.
    type Event = { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } };
    const reachedFetch = docs.filter((h) =>
      (h.history as { events: Event[] }).events.some(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchAndParse',
      ),
    );
    assert.ok(reachedFetch.length > 0, 'no recorded document history scheduled an activity');
    assert.equal(failures.length, reachedFetch.length, failures.join('\n'));
    assert.ok(
      failures.every((f) => /DeterminismViolation|nondetermin/i.test(f)),
      failures.join('\n'),
    );
  });
});
