// `npm test`: brings up whatever part of the local stack is not running, runs every test file on Node's test runner,
// then stops only what it started. Arguments narrow the run to the given files or folders.
import { spawnSync } from 'node:child_process';
import { globSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadStackConfig } from '../infra/config.ts';
import type { ServiceName } from '../infra/service.ts';
import { Stack, StackUpError } from '../infra/stack.ts';

const root = resolve(import.meta.dirname, '..');
const IGNORED = /(^|\/)(node_modules|\.data|\.git)\//;

function testFiles(args: string[]): string[] {
  const roots = args.length > 0 ? args : ['.'];
  const files = roots.flatMap((arg) => {
    const abs = resolve(root, arg);
    if (statSync(abs, { throwIfNoEntry: false })?.isFile()) return [abs];
    return globSync('**/*.test.ts', { cwd: abs }).map((f) => join(abs, f));
  });
  return [...new Set(files)].filter((f) => !IGNORED.test(relative(root, f))).sort();
}

async function main(): Promise<number> {
  const files = testFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error('test: no test files found');
    return 1;
  }
  const stack = new Stack(loadStackConfig(), (line) => console.error(`[infra] ${line}`));
  const before = await stack.status();
  const down = (Object.keys(before) as ServiceName[]).filter((n) => !before[n].ok);
  if (down.length > 0) {
    console.error(`test: starting ${down.join(', ')} for the tests`);
    try {
      await stack.up(down);
    } catch (err) {
      if (err instanceof StackUpError) {
        console.error(`test: the local stack did not come up:\n${err.message}`);
        await stack.down(down);
        return 1;
      }
      throw err;
    }
  }
  try {
    const res = spawnSync(
      process.execPath,
      ['--test', '--test-reporter=spec', '--test-timeout=300000', ...files.map((f) => relative(root, f))],
      { cwd: root, stdio: 'inherit', env: { ...process.env, RAGLINE_TEST: '1' } },
    );
    return res.status ?? 1;
  } finally {
    if (down.length > 0) {
      const stopped = await stack.down(down);
      console.error(`test: stopped ${stopped.join(', ') || 'nothing'}`);
    }
  }
}

process.exitCode = await main();
