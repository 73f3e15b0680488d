import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../connectors/shared/log.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';

/** What `ingest worker --until-stdin-closes` prints on stderr once it polls; the parent waits for it. */
export const POLLING_LINE = /^worker \S+ for pipeline .* is polling/;

/**
 * Whether the pipeline's embed role holds a local model (an onnxruntime session of some 200 MB that grows with each
 * batch). `ingest run` then runs that role in a child process, so neither process passes the per-worker memory bound
 * whatever the documents; a hosted or hash embedder is light and stays in the run's own process.
 */
export function embedsLocally(spec: PipelineSpec): boolean {
  return spec.embedder.kind === 'local-onnx' || spec.lateChunking?.kind === 'local';
}

export interface EmbedChild {
  readonly pid: number;
  /** The child's peak resident memory so far (VmHWM), in MB; undefined where /proc is not readable. */
  peakRssMb(): number | undefined;
  /** Rejects if the child exits before `stop()`, with its exit and the last lines it printed. */
  readonly failed: Promise<never>;
  /** Graceful: SIGTERM, the activities it holds finish, it exits. Resolves once it has. */
  stop(): Promise<void>;
}

export class EmbedChildError extends Error {
  override name = 'EmbedChildError';
}

const cliPath = join(import.meta.dirname, '..', 'cli', 'ingest.ts');
const START_TIMEOUT_MS = 120_000;

/**
 * Starts `ingest worker --role embed` for the same pipeline (the same global options and environment) and resolves
 * once it polls. The child ends when this process closes its stdin, so a parent killed outright leaves no orphan.
 * Its stderr (JSON log lines at this process's level unless `logLevel` says otherwise) passes through to ours,
 * except the line saying it polls.
 */
export async function startEmbedChild(globalArgs: readonly string[], opts: { logLevel?: string } = {}): Promise<EmbedChild> {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      cliPath,
      ...globalArgs,
      'worker',
      '--role',
      'embed',
      '--until-stdin-closes',
      // A command's helper, not a long-running worker: nothing scrapes it.
      '--metrics-port',
      'off',
      '--log-level',
      opts.logLevel ?? log().level,
    ],
    { stdio: ['pipe', 'inherit', 'pipe'], env: process.env },
  );
  let tail = '';
  let stopping = false;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  let buffered = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    buffered += d;
    tail = (tail + d).slice(-4000);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (POLLING_LINE.test(line)) resolveReady();
      else process.stderr.write(`${line}\n`);
    }
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (code, signal) => resolve([code, signal])),
  );
  const failed = exited.then(([code, signal]) => {
    throw new EmbedChildError(
      `the embed worker (pid ${child.pid}) exited ${signal ? `on ${signal}` : `with code ${code}`}${
        stopping ? '' : ' while the run needed it'
      }: ${tail.trim().split('\n').slice(-20).join('\n')}`,
    );
  });
  failed.catch(() => undefined); // observed by callers who race it; never unhandled
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      failed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new EmbedChildError(`the embed worker did not poll within ${START_TIMEOUT_MS / 1000} s: ${tail}`)),
          START_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid: child.pid!,
    peakRssMb: () => vmHwmMb(child),
    failed,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        child.stdin!.end();
      }
      await exited;
    },
  };
}

function vmHwmMb(child: ChildProcess): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
