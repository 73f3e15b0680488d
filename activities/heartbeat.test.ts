import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { atEdge } from './failures.ts';
import { heartbeat, QUIET_MS } from './heartbeat.ts';

// The quiet period: an activity that ends within QUIET_MS sends no heartbeat (each one is a billed Action); a longer
// one is seen from QUIET_MS on, with its latest progress, and its later progress goes through.

function recorder() {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  return { env, beats };
}

describe('activity heartbeats: quiet for the first QUIET_MS', () => {
  it('a short activity under atEdge sends none, however often it reports progress', async () => {
    const { env, beats } = recorder();
    const acts = atEdge({
      async short() {
        for (let i = 0; i < 10; i++) heartbeat({ done: i });
        return 'ok';
      },
    });
    assert.equal(await env.run(acts.short), 'ok');
    assert.deepEqual(beats, []);
  });

  it('a long one sends its latest progress at the end of the quiet period, then each report', async () => {
    const { env, beats } = recorder();
    const acts = atEdge({
      async long() {
        heartbeat({ done: 1 });
        heartbeat({ done: 2 });
        heartbeat(); // a bare call keeps the details
        await sleep(QUIET_MS + 400);
        heartbeat({ done: 3 });
      },
    });
    await env.run(acts.long);
    assert.deepEqual(beats, [{ done: 2 }, { done: 3 }]);
  });

  it('outside atEdge progress goes straight to the SDK', async () => {
    const { env, beats } = recorder();
    await env.run(async () => heartbeat({ done: 1 }));
    assert.deepEqual(beats, [{ done: 1 }]);
  });
});
