import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A command line for one long-running server process. */
export interface Launch {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Run as this user (a server that refuses to run as root, when the stack runs as root). */
  uid?: number;
  gid?: number;
  /** The signal that asks for a prompt clean exit (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
}

interface PidRecord {
  pid: number;
  /** Executable basename, checked against /proc so a recycled pid is never mistaken for ours. */
  exe: string;
  startedAt: string;
  stopSignal?: NodeJS.Signals;
}

export class ServiceStartError extends Error {
  override name = 'ServiceStartError';
  readonly service: string;
  readonly logFile: string;
  constructor(service: string, reason: string, logFile: string) {
    super(`${service}: ${reason}\n  log: ${logFile}`);
    this.service = service;
    this.logFile = logFile;
  }
}

/** Starts, finds and stops detached server processes through pid files. */
export class Supervisor {
  readonly runDir: string;
  readonly logDir: string;

  constructor(dataDir: string) {
    this.runDir = `${dataDir}/run`;
    this.logDir = `${dataDir}/logs`;
  }

  logFile(name: string): string {
    return `${this.logDir}/${name}.log`;
  }

  private pidFile(name: string): string {
    return `${this.runDir}/${name}.pid`;
  }

  /** The pid of our running process for `name`, or undefined. Stale pid files are removed. */
  runningPid(name: string): number | undefined {
    const file = this.pidFile(name);
    if (!existsSync(file)) return undefined;
    let rec: PidRecord;
    try {
      rec = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    } catch {
      rmSync(file, { force: true });
      return undefined;
    }
    if (isAlive(rec.pid) && cmdlineMentions(rec.pid, rec.exe)) return rec.pid;
    rmSync(file, { force: true });
    return undefined;
  }

  /** Spawns the process in its own process group, output appended to its log file. */
  spawn(name: string, launch: Launch): { pid: number; exited: Promise<number | null> } {
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true });
    const fd = openSync(this.logFile(name), 'a');
    writeFileSync(fd, `\n==== ${new Date().toISOString()} starting: ${launch.command} ${launch.args.join(' ')}\n`);
    const child = spawn(launch.command, launch.args, {
      cwd: launch.cwd,
      env: { ...process.env, ...launch.env },
      detached: true,
      stdio: ['ignore', fd, fd],
      uid: launch.uid,
      gid: launch.gid,
    });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    child.unref();
    if (child.pid === undefined) throw new ServiceStartError(name, `could not spawn ${launch.command}`, this.logFile(name));
    const rec: PidRecord = {
      pid: child.pid,
      exe: basename(launch.command),
      startedAt: new Date().toISOString(),
      ...(launch.stopSignal ? { stopSignal: launch.stopSignal } : {}),
    };
    writeFileSync(this.pidFile(name), JSON.stringify(rec));
    return { pid: child.pid, exited };
  }

  /** SIGTERM to the whole process group, SIGKILL after `graceMs`; true when something was running. */
  async stop(name: string, graceMs = 20_000): Promise<boolean> {
    const pid = this.runningPid(name);
    if (pid === undefined) return false;
    signalGroup(pid, this.stopSignal(name));
    const deadline = Date.now() + graceMs;
    while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
    if (groupAlive(pid)) {
      signalGroup(pid, 'SIGKILL');
      while (groupAlive(pid)) await sleep(50);
    }
    rmSync(this.pidFile(name), { force: true });
    return true;
  }

  private stopSignal(name: string): NodeJS.Signals {
    try {
      return (JSON.parse(readFileSync(this.pidFile(name), 'utf8')) as PidRecord).stopSignal ?? 'SIGTERM';
    } catch {
      return 'SIGTERM';
    }
  }

  /** Kills a process group that never became healthy. */
  async kill(name: string, pid: number): Promise<void> {
    signalGroup(pid, 'SIGKILL');
    for (let i = 0; i < 100 && groupAlive(pid); i++) await sleep(50);
    rmSync(this.pidFile(name), { force: true });
  }

  /** The last `n` lines of a service's log, to show with a failure. */
  tail(name: string, n = 15): string {
    const file = this.logFile(name);
    if (!existsSync(file)) return '';
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function cmdlineMentions(pid: number, exe: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(exe);
  } catch {
    // no procfs (not Linux): trust the pid
    return process.platform !== 'linux';
  }
}

/** True when nothing listens on 127.0.0.1:port (a wildcard listener on the port counts as busy). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export function ensureDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

export function ensureParent(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  return path;
}
