import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KILL_POINTS, KillPointConfigError, killPoint, parseKillPoints } from './kill-points.ts';

const moduleUrl = new URL('./kill-points.ts', import.meta.url).href;

/** A fresh process that reaches `point` and then prints `passed`. */
function reach(point: string, env: NodeJS.ProcessEnv) {
  const code = `const { killPoint } = await import(${JSON.stringify(moduleUrl)}); killPoint(${JSON.stringify(point)}); console.log('passed');`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
}

describe('kill points', () => {
  const marks = mkdtempSync(join(tmpdir(), 'ragline-kill-marks-'));
  after(() => rmSync(marks, { recursive: true, force: true }));

  it('parses a comma-separated list and refuses unknown names, listing the known ones', () => {
    assert.equal(parseKillPoints(undefined), undefined);
    assert.equal(parseKillPoints(' , '), undefined);
    assert.deepEqual(
      [...parseKillPoints('commit.after-cleanup, upsert.after-write')!],
      ['commit.after-cleanup', 'upsert.after-write'],
    );
    assert.throws(
      () => parseKillPoints('commit.after-cleanup,commit.later'),
      (err: Error) =>
        err instanceof KillPointConfigError && /commit\.later/.test(err.message) && /upsert\.after-write/.test(err.message),
    );
  });

  it('names are unique', () => {
    assert.equal(new Set(KILL_POINTS).size, KILL_POINTS.length);
  });

  it('does nothing in a process started without RAGLINE_KILL_AT', () => {
    killPoint('commit.after-cleanup');
    const r = reach('commit.after-cleanup', { RAGLINE_KILL_AT: '' });
    assert.equal(r.signal, null);
    assert.equal(r.stdout.trim(), 'passed');
  });

  it('passes points it was not told to kill at', () => {
    const r = reach('upsert.after-write', { RAGLINE_KILL_AT: 'commit.after-cleanup' });
    assert.equal(r.stdout.trim(), 'passed');
  });

  it('SIGKILLs the process at the named point once per marks folder, and every time without one', () => {
    const env = { RAGLINE_KILL_AT: 'commit.after-cleanup', RAGLINE_KILL_MARKS: marks };
    const first = reach('commit.after-cleanup', env);
    assert.equal(first.signal, 'SIGKILL');
    assert.equal(first.stdout, '');
    assert.deepEqual(readdirSync(marks), ['commit.after-cleanup']);
    const restarted = reach('commit.after-cleanup', env);
    assert.equal(restarted.signal, null);
    assert.equal(restarted.stdout.trim(), 'passed');
    assert.equal(reach('commit.after-cleanup', { RAGLINE_KILL_AT: 'commit.after-cleanup' }).signal, 'SIGKILL');
  });

  it('a process with an unknown name fails at start with the typed error', () => {
    const r = reach('commit.after-cleanup', { RAGLINE_KILL_AT: 'nowhere' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /KillPointConfigError.*nowhere/s);
  });
});
