import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pythonVenv, pythonVenvDir } from '../../infra/install.ts';

// pythonVenv with a stand-in interpreter: `python -m venv DIR` makes DIR/bin/pip, and that pip records each install
// in a file and takes a moment, so that two callers overlap.
const root = mkdtempSync(join(tmpdir(), 'ragline-venv-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));

function fakePython(dir: string): { python: string; installs: () => number } {
  mkdirSync(dir, { recursive: true });
  const count = join(dir, 'installs');
  const python = join(dir, 'python');
  writeFileSync(
    python,
    `#!/bin/sh\n# -m venv DIR\nmkdir -p "$3/bin"\nprintf '#!/bin/sh\\necho x >> ${count}\\nsleep 1\\n' > "$3/bin/pip"\nchmod +x "$3/bin/pip"\n`,
  );
  chmodSync(python, 0o755);
  return { python, installs: () => (readFileSync(count, 'utf8').match(/x/g) ?? []).length };
}

describe('pythonVenv', () => {
  it('builds a venv once when several processes want it at the same time; the others wait for it', async () => {
    const { python, installs } = fakePython(join(root, 'a'));
    const opts = { cacheDir: join(root, 'a', 'cache'), python, requirements: ['pkg==1'], log: () => {} };
    const dirs = await Promise.all([pythonVenv(opts), pythonVenv(opts), pythonVenv(opts)]);
    assert.deepEqual(new Set(dirs), new Set([pythonVenvDir(opts)]));
    assert.equal(installs(), 1, 'one install, not three');
    assert.equal(await pythonVenv(opts), dirs[0]);
    assert.equal(installs(), 1, 'a finished venv is reused');
  });

  it('takes over a lock left by a process that died', async () => {
    const { python, installs } = fakePython(join(root, 'b'));
    const opts = { cacheDir: join(root, 'b', 'cache'), python, requirements: ['pkg==2'], log: () => {} };
    const lock = `${pythonVenvDir(opts)}.lock`;
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'pid'), '2147480000'); // no such process
    assert.equal(await pythonVenv(opts), pythonVenvDir(opts));
    assert.equal(installs(), 1);
  });
});
