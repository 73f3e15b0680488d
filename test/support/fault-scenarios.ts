import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { KILL_POINTS, type KillPoint } from '../../connectors/shared/kill-points.ts';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { indexAlias, validatePipelineSpec, type PipelineSpecInput } from '../../pipeline/spec.ts';
import type { IngestHandle } from '../../sdk/client.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { startTeiFake } from '../contract/fakes/tei.ts';
import type { FakeServer } from '../contract/fakes/server.ts';
import { cliEnv, Harness } from '../e2e/support.ts';
import { startCliProcess, stopProcess } from './cli-process.ts';
import { restartService } from './faults.ts';
import { createTopic, deleteTopic, produceWithConsoleProducer } from './kafka-tools.ts';
import { eventually, stack, uniqueName } from './stack.ts';

// One fault scenario = a small pipeline of its own (20 documents, two sinks, its own ledger) on the running stack, its
// workers in an `ingest worker` process like an operator runs them. A first run ingests the corpus; then 4 documents
// are edited (2 shrink, so stale chunks must go; 2 grow), 3 deleted and 2 added, and a second run applies that while
// the scenario's fault strikes: a kill point, a SIGKILL, a server down, an error storm. Whatever died is started again
// (a supervisor's job), the run is waited for, and the outcome is measured from outside against what the bucket holds:
// documents lost, vectors duplicated, ledger-vs-sink drift, and the time from the fault to the run's end.

/** What a scenario measured. The target is 0 / 0 / 0. */
export interface FaultReport {
  /**
   * Documents not in their final state: a live one whose current bytes the ledger does not record as ingested or
   * whose chunks a sink lacks, a removed one the ledger does not record as deleted.
   */
  lost: number;
  /**
   * Vectors that should not exist: an id stored twice, a chunk no document accounts for, a chunk of an older content
   * version, a chunk of a deleted document.
   */
  duplicates: number;
  /**
   * Ledger-vs-sink disagreements: documents whose chunk ids in a sink differ from the ledger's, and sinks whose live
   * index has no `current` record in the ledger.
   */
  drift: number;
  /** From the fault to the end of the run (every document in its final state). */
  recoverMs: number;
  /** Everything that went wrong, in words (empty when the scenario is clean). */
  problems: string[];
}

export interface Scenario {
  name: string;
  /**
   * Left out of `npm test` to keep CI within its budget (outages, and kills the older fault tests already cover):
   * runs with RAGLINE_FAULTS=full (`npm run test:faults`) and in the bench.
   */
  long: boolean;
  run(): Promise<FaultReport>;
}

/** Whether the long scenarios run (`npm run test:faults` sets it; `npm test` leaves it unset to fit CI's budget). */
export const fullFaults = process.env.RAGLINE_FAULTS === 'full';

const DOCS = 20;
const EDITED = [0, 1, 2, 3];
const REMOVED = [4, 5, 6];
const ADDED = [20, 21];
const keyOf = (i: number): string => `fault/doc-${String(i).padStart(2, '0')}.txt`;

/** Round 0 is the first version; round 1 the edit (even documents shrink to one chunk, odd ones grow). */
function bodyOf(i: number, round: 0 | 1): string {
  const words = round === 0 ? 30 + (i % 5) * 30 : i % 2 === 0 ? 12 : 260;
  const text = Array.from({ length: words }, (_, k) => `w${(i * 37 + k * (round + 3)) % 701}`).join(' ');
  return `Document ${i}${round ? ' edited' : ''}. ${text}.`;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const progress = (msg: string): void => {
  if (process.env.RAGLINE_FAULTS_LOG) process.stderr.write(`[faults] ${msg}\n`);
};

interface RigOptions {
  name: string;
  spec?: Partial<PipelineSpecInput>;
  /** Kafka topic trigger (for event-driven scenarios). */
  topic?: string;
  /** Extra environment for the worker process (kill points). */
  workerEnv?: NodeJS.ProcessEnv;
}

/** A pipeline, its bucket, its sinks and its worker process; knows which state every document must end in. */
class Rig {
  readonly h: Harness;
  readonly problems: string[] = [];
  sinks = new Map<string, Sink>();
  specFile = '';
  worker?: ChildProcess;
  trigger?: ChildProcess;
  /** Live documents and the body each holds now; removed documents. */
  readonly live = new Map<number, string>();
  readonly removed = new Set<number>();
  private readonly log: string[] = [];
  readonly opts: RigOptions;

  constructor(opts: RigOptions) {
    this.opts = opts;
    this.h = new Harness({
      embedder: { kind: 'hash', dims: 64 },
      sinks: [
        { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
        { kind: 'milvus', name: 'milvus', address: `127.0.0.1:${stack.ports.milvus}` },
      ],
      concurrency: { documents: 8, pageSize: 50 },
      ...opts.spec,
    });
    if (opts.topic)
      this.h.spec = validatePipelineSpec({
        ...this.h.spec,
        triggers: [{ kind: 'kafka', topic: opts.topic, groupId: uniqueName('fault-group') }],
      });
  }

  async start(): Promise<void> {
    await this.h.start({ workers: false });
    this.sinks = await createSinks(this.h.spec);
    this.specFile = join(this.h.dataDir, 'pipeline.json');
    writeFileSync(this.specFile, JSON.stringify(this.h.spec));
    for (let i = 0; i < DOCS; i++) await this.put(i, bodyOf(i, 0));
  }

  async put(i: number, body: string): Promise<void> {
    await this.h.put(keyOf(i), body);
    this.live.set(i, body);
    this.removed.delete(i);
  }

  /** The second round: edits, removals and additions in the bucket (the run that applies them is the scenario's). */
  async mutate(): Promise<void> {
    for (const i of EDITED) await this.put(i, bodyOf(i, 1));
    for (const i of REMOVED) {
      await this.h.remove(keyOf(i));
      this.live.delete(i);
      this.removed.add(i);
    }
    for (const i of ADDED) await this.put(i, bodyOf(i, 0));
  }

  /** Keys the second round touched, for event-driven scenarios. */
  changed(): { upserts: number[]; deletes: number[] } {
    return { upserts: [...EDITED, ...ADDED], deletes: [...REMOVED] };
  }

  async startWorker(env: NodeJS.ProcessEnv = this.opts.workerEnv ?? {}): Promise<ChildProcess> {
    const onLog = (t: string): void => void this.log.push(t);
    this.worker = await startCliProcess(['--pipeline', this.specFile, 'worker'], 'is polling', { ...cliEnv(), ...env }, onLog);
    return this.worker;
  }

  async startTrigger(): Promise<ChildProcess> {
    const onLog = (t: string): void => void this.log.push(t);
    this.trigger = await startCliProcess(['--pipeline', this.specFile, 'trigger'], 'trigger is consuming', cliEnv(), onLog);
    return this.trigger;
  }

  /** The last lines the worker and trigger processes wrote, for failure messages. */
  logTail(): string {
    return this.log.join('').slice(-3000);
  }

  /** Starts a run over the bucket and returns its handle. */
  async startRun(): Promise<IngestHandle> {
    return this.h.client.startIngest(`s3://${this.h.bucket}/`);
  }

  /**
   * Waits for a run's end, riding out a Temporal server that is away for a while (the client's own retries give up
   * sooner than an outage lasts). Records a problem when the run does not end in time.
   */
  async waitRun(handle: IngestHandle, timeoutMs = 600_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const counts = await handle.result();
        if (counts.failed > 0) this.problems.push(`the run reports ${counts.failed} failed document(s)`);
        return true;
      } catch (err) {
        last = err;
        await sleep(1000);
      }
    }
    this.problems.push(`the run did not end within ${timeoutMs} ms: ${String(last)}; log: ${this.logTail()}`);
    return false;
  }

  /** Waits until the ledger holds every document's final state (event-driven runs have no end of their own). */
  async waitSettled(timeoutMs = 300_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.settled().catch(() => false)) return true;
      await sleep(500);
    }
    this.problems.push(`the documents did not reach their final state within ${timeoutMs} ms; log: ${this.logTail()}`);
    return false;
  }

  private async settled(): Promise<boolean> {
    for (const [i, body] of this.live) {
      const rec = await this.h.ledger.get(this.h.spec.tenant, this.h.uri(keyOf(i)));
      if (rec?.status !== 'ingested' || rec.contentHash !== sha256(body)) return false;
    }
    for (const i of this.removed) {
      const rec = await this.h.ledger.get(this.h.spec.tenant, this.h.uri(keyOf(i)));
      if (rec?.status !== 'deleted') return false;
    }
    return true;
  }

  /** Counts lost documents, duplicate vectors and drift, from the ledger and every sink. */
  async measure(recoverMs: number): Promise<FaultReport> {
    const { spec } = this.h;
    const index = this.h.index;
    const report: FaultReport = { lost: 0, duplicates: 0, drift: 0, recoverMs, problems: this.problems };
    const bad = (what: keyof Pick<FaultReport, 'lost' | 'duplicates' | 'drift'>, n: number, why: string): void => {
      report[what] += n;
      report.problems.push(`${what} ${n}: ${why}`);
    };
    const currentHash = new Map<string, string>();
    const perSink = new Map<string, number>();
    for (const i of [...this.live.keys(), ...this.removed].sort((a, b) => a - b)) {
      const uri = this.h.uri(keyOf(i));
      const body = this.live.get(i);
      const rec = await this.h.ledger.get(spec.tenant, uri);
      const want = body === undefined ? [] : [...(rec?.chunkIds ?? [])].sort();
      if (body !== undefined) {
        currentHash.set(uri, sha256(body));
        if (rec?.status !== 'ingested' || rec.contentHash !== sha256(body))
          bad('lost', 1, `${keyOf(i)}: the ledger says ${rec?.status ?? 'nothing'}, not its current bytes ingested`);
      } else if (rec?.status !== 'deleted')
        bad('lost', 1, `${keyOf(i)} was removed; the ledger says ${rec?.status ?? 'nothing'}`);
      for (const [name, sink] of this.sinks) {
        const ids = (await sink.idsOfDocument(index, spec.tenant, uri)).sort();
        perSink.set(name, (perSink.get(name) ?? 0) + ids.length);
        const distinct = new Set(ids);
        if (distinct.size < ids.length)
          bad('duplicates', ids.length - distinct.size, `${name}: ${keyOf(i)} has ids stored twice`);
        if (body === undefined && distinct.size > 0)
          bad('duplicates', distinct.size, `${name}: removed ${keyOf(i)} still has chunks`);
        const missing = want.filter((id) => !distinct.has(id));
        if (body !== undefined && rec?.status === 'ingested' && missing.length > 0)
          bad('lost', 1, `${name}: ${keyOf(i)} lacks ${missing.length} of its ${want.length} chunks`);
        if ([...distinct].join() !== want.join())
          bad('drift', 1, `${name}: ${keyOf(i)} holds ${distinct.size} ids, the ledger ${want.length} (not the same set)`);
      }
    }
    for (const [name, sink] of this.sinks) {
      const total = await sink.count(index, { tenant: spec.tenant });
      const accounted = perSink.get(name) ?? 0;
      if (total !== accounted)
        bad('duplicates', Math.abs(total - accounted), `${name}: ${total} chunks stored, ${accounted} belong to documents`);
      // Chunk ids are stable per (document, position), so an edit overwrites them: a chunk still holding an older
      // version's content hash was never overwritten.
      const hits =
        total > 0 ? await sink.search(index, new Float32Array(64).fill(0.1), { topK: total, tenant: spec.tenant }) : [];
      const old = hits.filter((x) => {
        const want = currentHash.get(x.metadata.sourceUri);
        return want !== undefined && x.metadata.contentHash !== want;
      });
      if (old.length > 0) bad('duplicates', old.length, `${name}: ${old.length} chunk(s) of an older version`);
      const alias = indexAlias(spec);
      const target = await sink.getAlias(alias);
      const versions = await this.h.ledger.listIndexVersions(alias);
      const current = versions.find((v) => v.sink === name && v.index === index);
      if (target !== index || current?.state !== 'current')
        bad('drift', 1, `${name}: alias -> ${target ?? 'nothing'}, the ledger's record of ${index}: ${current?.state ?? 'none'}`);
    }
    return report;
  }

  async stop(): Promise<void> {
    if (this.worker) await stopProcess(this.worker, 'SIGKILL');
    if (this.trigger) await stopProcess(this.trigger, 'SIGKILL');
    await this.h.dropIndexes(this.sinks.values()).catch(() => undefined);
    for (const sink of this.sinks.values()) await sink.close().catch(() => undefined);
    await this.h.client?.close().catch(() => undefined);
    await this.h.stop();
  }
}

/** Resolves with the moment the process dies of a SIGKILL it did not get from us (a kill point). */
function diesOfKill(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => child.once('exit', (_code, signal) => signal === 'SIGKILL' && resolve(Date.now())));
}

/** The first run without faults, then the second round of changes. */
async function prepared(rig: Rig, firstRunEnv: NodeJS.ProcessEnv = {}): Promise<void> {
  await rig.start();
  await rig.startWorker(firstRunEnv);
  if (!(await rig.waitRun(await rig.startRun(), 120_000))) throw new Error(`first run failed: ${rig.problems.join('; ')}`);
  await stopProcess(rig.worker!, 'SIGTERM');
  await rig.mutate();
}

/** Runs `body` on a fresh rig, always cleaning up; a failure inside becomes a problem of the report. */
async function withRig(opts: RigOptions, body: (rig: Rig) => Promise<number>): Promise<FaultReport> {
  const rig = new Rig(opts);
  try {
    const recoverMs = await body(rig);
    return await rig.measure(recoverMs);
  } catch (err) {
    rig.problems.push(`scenario ${opts.name} failed: ${(err as Error).stack ?? String(err)}; log: ${rig.logTail()}`);
    return { lost: -1, duplicates: -1, drift: -1, recoverMs: -1, problems: rig.problems };
  } finally {
    await rig.stop();
  }
}

/** The first run of a pipeline version meets kill points the second does not (the alias is set once). */
const FIRST_RUN_POINTS: readonly KillPoint[] = ['upsert.after-alias-set'];

/** A worker process SIGKILLs itself at `point`, once; it is restarted at once and the run must end clean. */
function killPointScenario(point: KillPoint): Scenario {
  const name = `kill:${point}`;
  return {
    name,
    long: false,
    run: () =>
      withRig({ name }, async (rig) => {
        const marks = join(rig.h.dataDir, 'kill-marks');
        mkdirSync(marks, { recursive: true });
        const env = { RAGLINE_KILL_AT: point, RAGLINE_KILL_MARKS: marks };
        const first = FIRST_RUN_POINTS.includes(point);
        if (first) await rig.start();
        else await prepared(rig);
        const worker = await rig.startWorker(env);
        const killed = diesOfKill(worker);
        const handle = await rig.startRun();
        const done = rig.waitRun(handle).then(() => undefined);
        const at = await Promise.race([killed, done]);
        if (at === undefined) {
          rig.problems.push(`kill point ${point} was never reached`);
          return 0;
        }
        progress(`${name}: worker killed itself; restarting it`);
        await rig.startWorker(env);
        await done;
        const recoverMs = Date.now() - at;
        if (first) {
          // The scenario's second round runs too, so both runs' documents are measured the same way.
          await rig.mutate();
          await rig.waitRun(await rig.startRun());
        }
        return recoverMs;
      }),
  };
}

/** Resolves once the run reports its first document ingested. */
function firstDocumentDone(handle: IngestHandle): Promise<true> {
  return eventually(
    async () => (((await handle.progress()).ingested ?? 0) >= 1 ? true : undefined),
    120_000,
    'the first document of the run',
  );
}

/** SIGKILL of the worker at fixed moments: the first document of the second run done, then again as soon as it is back. */
const workerKill: Scenario = {
  name: 'worker-sigkill',
  long: true,
  run: () =>
    withRig({ name: 'worker-sigkill' }, async (rig) => {
      await prepared(rig);
      await rig.startWorker();
      const handle = await rig.startRun();
      await firstDocumentDone(handle);
      const at = Date.now();
      await stopProcess(rig.worker!, 'SIGKILL');
      await stopProcess(await rig.startWorker(), 'SIGKILL');
      await rig.startWorker();
      await rig.waitRun(handle);
      return Date.now() - at;
    }),
};

/** Temporal's server SIGKILLed once the second run is under way; it comes back on the same database. */
const temporalKill: Scenario = {
  name: 'temporal-sigkill',
  long: true,
  run: () =>
    withRig({ name: 'temporal-sigkill' }, async (rig) => {
      await prepared(rig);
      await rig.startWorker();
      const handle = await rig.startRun();
      await firstDocumentDone(handle);
      const at = Date.now();
      await restartService('temporal', { mode: 'kill' });
      await rig.waitRun(handle);
      return Date.now() - at;
    }),
};

/** One sink's server down for `downMs` in the middle of the second run; the other sink keeps going. */
function sinkDown(service: 'chroma' | 'milvus' | 'weaviate', downMs: number): Scenario {
  const name = `${service}-down-${Math.round(downMs / 1000)}s`;
  // Weaviate replaces Milvus as the second sink when it is the one taken down.
  const spec: Partial<PipelineSpecInput> | undefined =
    service === 'weaviate'
      ? {
          sinks: [
            { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
            { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
          ],
        }
      : undefined;
  return {
    name,
    long: true,
    run: () =>
      withRig({ name, spec }, async (rig) => {
        await prepared(rig);
        await rig.startWorker();
        const handle = await rig.startRun();
        const at = Date.now();
        await restartService(service, { downMs });
        await rig.waitRun(handle);
        return Date.now() - at;
      }),
  };
}

/** The PostgreSQL ledger (and embedding cache) down for `downMs` in the middle of the second run. */
function postgresDown(downMs: number): Scenario {
  const name = `postgres-down-${Math.round(downMs / 1000)}s`;
  const schema = uniqueName('faults', '_').toLowerCase();
  const server = {
    host: '127.0.0.1',
    port: stack.ports.postgres,
    user: stack.postgres.user,
    password: stack.postgres.password,
    database: stack.postgres.database,
  };
  return {
    name,
    long: true,
    run: async () => {
      try {
        return await withRig({ name, spec: { ledger: { kind: 'postgres', ...server, schema } } }, async (rig) => {
          await prepared(rig);
          await rig.startWorker();
          const handle = await rig.startRun();
          const at = Date.now();
          await restartService('postgres', { downMs });
          await rig.waitRun(handle);
          return Date.now() - at;
        });
      } finally {
        const client = new pg.Client(server);
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      }
    },
  };
}

/** A TEI-compatible embedding server that answers `count` requests in a row with `status` once the second run starts. */
function embedStorm(status: 429 | 503, count: number): Scenario {
  const name = `embed-${status}-storm`;
  return {
    name,
    long: false,
    run: async () => {
      const tei: FakeServer = await startTeiFake({ dims: 64 });
      try {
        return await withRig(
          {
            name,
            spec: { embedder: { kind: 'tei', baseUrl: tei.url, model: 'fault-storm', dims: 64, batchSize: 4, maxInputs: 4 } },
          },
          async (rig) => {
            await prepared(rig);
            await rig.startWorker();
            tei.failNext(
              count,
              status === 429
                ? { status, body: { error: 'Model is overloaded', error_type: 'Overloaded' }, retryAfter: '1' }
                : { status, body: { error: 'unhealthy', error_type: 'Unhealthy' } },
            );
            const at = Date.now();
            await rig.waitRun(await rig.startRun());
            const answered = tei.statusCounts()[status] ?? 0;
            if (answered !== count) rig.problems.push(`the storm answered ${answered} requests with ${status}, not ${count}`);
            return Date.now() - at;
          },
        );
      } finally {
        await tei.close();
      }
    },
  };
}

/** Document events for the second round through a Kafka topic and an `ingest trigger` process. */
function eventScenario(
  name: string,
  fault: (rig: Rig, produce: (ops: Array<[number, 'upsert' | 'delete']>) => Promise<void>) => Promise<number>,
): Scenario {
  return {
    name,
    long: true,
    run: async () => {
      const topic = uniqueName('fault-events');
      try {
        return await withRig({ name, topic }, async (rig) => {
          await createTopic(topic, 3);
          const produce = (ops: Array<[number, 'upsert' | 'delete']>) =>
            produceWithConsoleProducer({
              topic,
              brokers: [`127.0.0.1:${stack.ports.kafka}`],
              records: ops.map(([i, op]) => ({
                key: rig.h.uri(keyOf(i)),
                value: JSON.stringify({ schema: 'ragline.document-event/v1', op, uri: rig.h.uri(keyOf(i)) }),
              })),
            });
          await prepared(rig);
          await rig.startWorker();
          const at = await fault(rig, produce);
          await rig.waitSettled();
          return Date.now() - at;
        });
      } finally {
        await deleteTopic(topic).catch(() => undefined);
      }
    },
  };
}

/** The trigger SIGKILLed mid-stream (events for every document, twice), the removals sent while it is down. */
const triggerKill = eventScenario('trigger-sigkill', async (rig, produce) => {
  const all = Array.from({ length: DOCS + ADDED.length }, (_, i) => i).filter((i) => !rig.removed.has(i));
  await produce([...all, ...all].map((i) => [i, 'upsert']));
  const trigger = await rig.startTrigger();
  const first = rig.h.uri(keyOf(EDITED[0]!));
  const want = sha256(rig.live.get(EDITED[0]!)!);
  await eventually(
    async () => ((await rig.h.ledger.get(rig.h.spec.tenant, first))?.contentHash === want ? true : undefined),
    120_000,
    'the first edit applied',
  );
  const at = Date.now();
  await stopProcess(trigger, 'SIGKILL');
  await produce(rig.changed().deletes.map((i) => [i, 'delete']));
  await rig.startTrigger();
  return at;
});

/** Kafka SIGKILLed while the trigger applies the edits; the removals are sent once it is back. */
const kafkaRestart = eventScenario('kafka-sigkill', async (rig, produce) => {
  await rig.startTrigger();
  await produce(rig.changed().upserts.map((i) => [i, 'upsert']));
  const at = Date.now();
  await restartService('kafka', { mode: 'kill', topics: [rig.opts.topic!] });
  await produce(rig.changed().deletes.map((i) => [i, 'delete']));
  return at;
});

/** Every scenario, kill points first, by name. */
export const SCENARIOS: readonly Scenario[] = [
  ...KILL_POINTS.map(killPointScenario),
  embedStorm(429, 40),
  embedStorm(503, 40),
  workerKill,
  temporalKill,
  triggerKill,
  kafkaRestart,
  sinkDown('chroma', 15_000),
  sinkDown('chroma', 60_000),
  sinkDown('milvus', 60_000),
  sinkDown('weaviate', 60_000),
  postgresDown(15_000),
  postgresDown(60_000),
];

export function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`no fault scenario ${name} (known: ${SCENARIOS.map((x) => x.name).join(', ')})`);
  return s;
}
