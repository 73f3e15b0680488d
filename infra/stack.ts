import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StackConfig } from './config.ts';
import { SERVICE_NAMES, type Probe, type Service, type ServiceContext, type ServiceName } from './service.ts';
import { kafka } from './services/kafka.ts';
import { postgres } from './services/postgres.ts';
import { prometheus } from './services/prometheus.ts';
import { chroma, milvus } from './services/python-servers.ts';
import { s3 } from './services/s3.ts';
import { temporal } from './services/temporal.ts';
import { installTestTools } from './services/test-tools.ts';
import { weaviate } from './services/weaviate.ts';
import { ensureDir, portFree, ServiceStartError, Supervisor } from './supervisor.ts';

export const SERVICES: Record<ServiceName, Service> = { kafka, s3, temporal, weaviate, milvus, chroma, postgres, prometheus };

export interface ServiceStatus {
  ok: boolean;
  version: string;
  endpoint: string;
  /** Further addresses (UI, gRPC, event topic). */
  extra?: Record<string, string>;
  /** Pid of the process this stack started, or null when it is not ours (or not running). */
  pid: number | null;
  log: string;
  detail?: string;
}

/** Thrown by `up` with one message per failed service. */
export class StackUpError extends Error {
  override name = 'StackUpError';
  readonly failures: ServiceStartError[];
  constructor(failures: ServiceStartError[]) {
    super(failures.map((f) => f.message).join('\n'));
    this.failures = failures;
  }
}

/** Adds the services a selection depends on, in start order. */
export function withDependencies(names: readonly ServiceName[]): ServiceName[] {
  const out = new Set<ServiceName>();
  const visit = (n: ServiceName): void => {
    for (const dep of SERVICES[n].after) visit(dep);
    out.add(n);
  };
  names.forEach(visit);
  return SERVICE_NAMES.filter((n) => out.has(n));
}

export class Stack {
  readonly config: StackConfig;
  readonly supervisor: Supervisor;
  private readonly log: (line: string) => void;

  constructor(config: StackConfig, log: (line: string) => void = () => undefined) {
    this.config = config;
    this.supervisor = new Supervisor(config.dataDir);
    this.log = log;
  }

  private ctx(name: ServiceName): ServiceContext {
    return {
      config: this.config,
      dataDir: ensureDir(join(this.config.dataDir, name)),
      logFile: this.supervisor.logFile(name),
      log: (line) => this.log(`${name}: ${line}`),
    };
  }

  /** Installs (cached), then starts every selected service not already running; waits until each is healthy. */
  async up(selection: readonly ServiceName[] = SERVICE_NAMES): Promise<void> {
    const names = withDependencies(selection);
    const toStart = names.filter((n) => this.supervisor.runningPid(n) === undefined);
    await this.checkPorts(toStart);
    // Test tools come with Kafka or S3 even when both already run, so an existing stack picks them up too.
    await this.installAll(toStart, names.includes('kafka') || names.includes('s3'));
    const failures: ServiceStartError[] = [];
    const healthy = new Set<ServiceName>(names.filter((n) => !toStart.includes(n)));
    // Start in waves: a service starts once everything it comes after is healthy.
    let pending = [...toStart];
    while (pending.length > 0) {
      const wave = pending.filter((n) => SERVICES[n].after.every((d) => healthy.has(d)));
      if (wave.length === 0) break;
      const results = await Promise.allSettled(wave.map((n) => this.startOne(n)));
      results.forEach((r, i) => {
        const name = wave[i] as ServiceName;
        if (r.status === 'fulfilled') healthy.add(name);
        else failures.push(toStartError(name, r.reason, this.supervisor.logFile(name)));
      });
      pending = pending.filter((n) => !wave.includes(n));
    }
    for (const n of pending) {
      const missing = SERVICES[n].after.filter((d) => !healthy.has(d));
      failures.push(new ServiceStartError(n, `not started: ${missing.join(', ')} did not come up`, this.supervisor.logFile(n)));
    }
    if (failures.length > 0) throw new StackUpError(failures);
  }

  private async checkPorts(names: readonly ServiceName[]): Promise<void> {
    const failures: ServiceStartError[] = [];
    for (const n of names) {
      for (const port of SERVICES[n].ports(this.config)) {
        if (!(await portFree(port)))
          failures.push(
            new ServiceStartError(
              n,
              `port ${port} is already in use by a process this stack did not start`,
              this.supervisor.logFile(n),
            ),
          );
      }
    }
    if (failures.length > 0) throw new StackUpError(failures);
  }

  private async installAll(names: readonly ServiceName[], withTestTools = false): Promise<void> {
    // Go builds saturate the CPU, so they run one after another; the Maven and pip downloads run beside them.
    const goBuilt = names.filter((n) => ['temporal', 's3', 'weaviate'].includes(n));
    const others = names.filter((n) => !goBuilt.includes(n));
    const failures: ServiceStartError[] = [];
    const attempt = async (n: ServiceName): Promise<void> => {
      try {
        await SERVICES[n].install(this.ctx(n));
      } catch (err) {
        failures.push(toStartError(n, err, this.supervisor.logFile(n)));
      }
    };
    const goChain = (async () => {
      for (const n of goBuilt) await attempt(n);
    })();
    // Milvus and Chroma share one venv: install it once before both.
    const usesVenv = (n: ServiceName): boolean => n === 'milvus' || n === 'chroma';
    const venvFirst = others.filter(usesVenv);
    const rest = others.filter((n) => !usesVenv(n));
    const pyChain = (async () => {
      for (const n of venvFirst) await attempt(n);
    })();
    // The plain clients end-to-end tests drive Kafka and S3 with (Kafka's console tools, the AWS CLI).
    const tools = async (): Promise<void> => {
      if (!withTestTools) return;
      try {
        await installTestTools(this.config, (line) => this.log(`test-tools: ${line}`));
      } catch (err) {
        failures.push(toStartError('test-tools', err, join(this.config.cacheDir, 'logs')));
      }
    };
    await Promise.all([goChain, pyChain, tools(), ...rest.map(attempt)]);
    if (failures.length > 0) throw new StackUpError(failures);
  }

  private async startOne(name: ServiceName): Promise<void> {
    const svc = SERVICES[name];
    const launch = await svc.launch(this.ctx(name));
    this.log(`${name}: starting`);
    const { pid, exited } = this.supervisor.spawn(name, launch);
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c === null ? -1 : c));
    const deadline = Date.now() + svc.startTimeoutMs;
    let last: Probe = { ok: false };
    while (Date.now() < deadline) {
      if (exitCode !== undefined) {
        throw new ServiceStartError(
          name,
          `exited with code ${exitCode} while starting:\n${indent(this.supervisor.tail(name))}`,
          this.supervisor.logFile(name),
        );
      }
      last = await svc.probe(this.config);
      if (last.ok) {
        this.log(`${name}: healthy (${last.version ?? svc.version})`);
        return;
      }
      await sleep(500);
    }
    await this.supervisor.kill(name, pid);
    throw new ServiceStartError(
      name,
      `not healthy after ${svc.startTimeoutMs / 1000}s (${last.detail ?? 'no detail'}):\n${indent(this.supervisor.tail(name))}`,
      this.supervisor.logFile(name),
    );
  }

  /** Stops services in reverse start order; returns the names that were running. */
  async down(selection: readonly ServiceName[] = SERVICE_NAMES): Promise<ServiceName[]> {
    const stopped: ServiceName[] = [];
    // Stop dependents before what they depend on (the S3 gateway before Kafka).
    const order = [...SERVICE_NAMES].reverse().filter((n) => selection.includes(n));
    const dependents = order.filter((n) => SERVICES[n].after.length > 0);
    const independents = order.filter((n) => SERVICES[n].after.length === 0);
    for (const group of [dependents, independents]) {
      const res = await Promise.all(group.map(async (n) => ((await this.supervisor.stop(n)) ? n : undefined)));
      for (const n of res) if (n) stopped.push(n);
    }
    return stopped;
  }

  async status(): Promise<Record<ServiceName, ServiceStatus>> {
    const entries = await Promise.all(
      SERVICE_NAMES.map(async (n): Promise<[ServiceName, ServiceStatus]> => {
        const svc = SERVICES[n];
        const probe = await svc.probe(this.config);
        const pid = this.supervisor.runningPid(n) ?? null;
        const status: ServiceStatus = {
          ok: probe.ok,
          version: probe.version ?? svc.version,
          endpoint: svc.endpoint(this.config),
          ...(svc.extra ? { extra: svc.extra(this.config) } : {}),
          pid,
          log: this.supervisor.logFile(n),
        };
        if (!probe.ok) status.detail = pid === null ? 'not running' : (probe.detail ?? 'unhealthy');
        return [n, status];
      }),
    );
    return Object.fromEntries(entries) as Record<ServiceName, ServiceStatus>;
  }
}

function toStartError(name: string, err: unknown, logFile: string): ServiceStartError {
  if (err instanceof ServiceStartError) return err;
  return new ServiceStartError(name, err instanceof Error ? err.message : String(err), logFile);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    | ${l}`)
    .join('\n');
}
