import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

// A child that calls execWithWorkerHeap, then reports what the process it became was started with.
const PROBE = `
import { execWithWorkerHeap } from ${JSON.stringify(join(import.meta.dirname, 'heap.ts'))};
execWithWorkerHeap(process.env);
console.log(JSON.stringify({
  pid: process.pid,
  execArgv: process.execArgv,
  arenas: process.env.MALLOC_ARENA_MAX ?? null,
  trim: process.env.MALLOC_TRIM_THRESHOLD_ ?? null,
}));
`;

function probe(
  env: NodeJS.ProcessEnv,
  extraArgs: string[] = [],
): {
  execArgv: string[];
  arenas: string | null;
  trim: string | null;
} {
  const out = execFileSync(process.execPath, [...extraArgs, '--input-type=module', '-e', PROBE], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('worker heap re-exec', () => {
  it('restarts the process with the worker heap flags and malloc settings', () => {
    const r = probe({});
    assert.ok(r.execArgv.includes('--max-old-space-size=256'), r.execArgv.join(' '));
    assert.ok(r.execArgv.includes('--max-semi-space-size=4'), r.execArgv.join(' '));
    assert.equal(r.arenas, '2');
    assert.equal(r.trim, '131072');
  });

  it("keeps an operator's own heap flags and malloc settings", () => {
    const viaFlag = probe({ MALLOC_ARENA_MAX: '8' }, ['--max-old-space-size=1024']);
    assert.deepEqual(
      viaFlag.execArgv.filter((a) => a.startsWith('--max-')),
      ['--max-old-space-size=1024'],
    );
    assert.equal(viaFlag.arenas, '8');
    const viaEnv = probe({ NODE_OPTIONS: '--max-old-space-size=1024', MALLOC_ARENA_MAX: '4' });
    assert.ok(!viaEnv.execArgv.includes('--max-old-space-size=256'));
    assert.equal(viaEnv.arenas, '4');
  });

  it('an operator malloc value wins over ours when the heap flags are added', () => {
    const r = probe({ MALLOC_ARENA_MAX: '6' });
    assert.ok(r.execArgv.includes('--max-old-space-size=256'));
    assert.equal(r.arenas, '6');
    assert.equal(r.trim, '131072');
  });
});
