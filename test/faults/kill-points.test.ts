import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KILL_POINTS } from '../../connectors/shared/kill-points.ts';
import { scenario } from '../support/fault-scenarios.ts';

// Each named kill point in the activities, hit on purpose: the worker process SIGKILLs itself at exactly that
// instruction (a side effect done, its completion not reported), is started again, and the run must end with every
// document in its final state, no vector twice and the ledger agreeing with both sinks. Each scenario has a pipeline,
// bucket and worker process of its own, so they run side by side: most of their time is Temporal noticing the dead
// worker (the activities' 30 s heartbeat timeout).

describe('a worker killed at each named kill point', { concurrency: 5 }, () => {
  for (const point of KILL_POINTS) {
    it(`${point}: nothing lost, nothing twice, ledger and sinks agree`, async () => {
      const r = await scenario(`kill:${point}`).run();
      assert.deepEqual(r.problems, [], r.problems.join('\n'));
      assert.deepEqual({ lost: r.lost, duplicates: r.duplicates, drift: r.drift }, { lost: 0, duplicates: 0, drift: 0 });
      assert.ok(r.recoverMs > 0);
    });
  }
});
