import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/**
 * The `ingest` CLI as its own process group, like an operator runs it; resolves once its stderr says `ready` (and
 * fails with that stderr if it exits first). Every stderr piece is also handed to `onStderr`.
 */
export function startCliProcess(
  args: string[],
  ready: string,
  env: NodeJS.ProcessEnv,
  onStderr: (text: string) => void = () => undefined,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(root, 'cli', 'ingest.ts'), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      onStderr(d.toString());
      if (err.includes(ready)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`ingest ${args.join(' ')} exited with ${code}: ${err}`)));
  });
}

/** Sends `signal` to the process group and waits for the process to exit (at once if it already has). */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(-child.pid!, signal);
  });
}
