import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import {
  makeTelemetryFilterString,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type WorkerOptions as SdkWorkerOptions,
} from '@temporalio/worker';
import { log } from '../connectors/shared/log.ts';
import { createEmbedActivities, createIngestActivities } from '../activities/index.ts';
import { pipelineRef } from '../pipeline/ref.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { tmpdir } from 'node:os';
import type { Context } from '@temporalio/activity';
import { join } from 'node:path';
import { workflowBundlePath } from './bundle.ts';
import { buildPipelineDeps, type S3Access, type WorkerRole } from './build-deps.ts';
import { dataConverterOf, nativeConnectionOptions, type TemporalTarget } from '../sdk/temporal-connection.ts';
import { activityLogFields, TemporalLogger, temporalLevel } from './temporal-log.ts';
import { checkPoolServer, DEFAULT_EMBED_SERVER, poolActivitySlots, readPoolServerInfo } from '../connectors/embedders/pool.ts';
import { pipelineLabel } from '../connectors/shared/metrics.ts';
import { type EmbedSupervisor, superviseEmbedWorker } from './embed-supervisor.ts';

/** Where to connect (address, namespace, TLS, API key, payload codec) and what to run. */
export interface WorkerOptions extends TemporalTarget {
  spec: PipelineSpec;
  roles: WorkerRole[];
  s3: S3Access;
  /** Relative paths in the spec resolve against this folder. */
  baseDir: string;
  /**
   * Folders `file://` sources may read besides the spec's `source.local.roots`: the folder an `ingest run` names
   * when its workers run in the same process.
   */
  extraRoots?: string[];
  /** Document workflows' CPU activities at once (parse, chunk, upsert). Default 8. */
  maxConcurrentActivities?: number;
  /** Where the prebuilt workflow bundle is cached. Default: the OS temp folder. */
  bundleCacheDir?: string;
  /** The Temporal SDK's log level (its lines go through the process's logger). Default: the process logger's level. */
  logLevel?: LogLevel;
  /** Serve the Temporal SDK's own Prometheus metrics (task slots, polls, latencies) on this port (process-wide). */
  sdkMetricsPort?: number;
  /**
   * A `pool` embedder's server, the one beside this embed worker (`ingest worker --embed-server`). Default:
   * RAGLINE_EMBED_SERVER, else DEFAULT_EMBED_SERVER (connectors/embedders/pool.ts).
   */
  embedServer?: string;
  /**
   * Embed activities at once. Default 16; with a `pool` embedder, sized from the server's `/info` to keep its batches
   * full (poolActivitySlots).
   */
  embedConcurrency?: number;
  /** A `pool` embed worker's health probes of its server (embed-supervisor.ts); defaults there (2 s, 1 s, 2). */
  embedProbe?: { intervalMs?: number; timeoutMs?: number; failuresToPause?: number };
}

export interface RunningWorkers {
  /** Resolves when every worker has stopped (after `shutdown()` or a SIGINT/SIGTERM). */
  done: Promise<void>;
  shutdown(): Promise<void>;
  /** With a `pool` embedder: the embed worker's supervisor (polling or paused for its server). */
  embedSupervisor?: EmbedSupervisor;
}

let runtimeInstalled = false;

/**
 * Starts the ingest worker (workflows + CPU activities) and/or the embed worker (embedding activity) of a pipeline.
 * SIGINT/SIGTERM make both stop polling, finish the activities they hold, and close their connectors.
 */
export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
  // A pool embed worker serves the spec's model only: it checks its server before anything else (before the Runtime,
  // which would keep a refused process alive) and refuses to start.
  const pool = opts.roles.includes('embed') ? await checkedPoolServer(opts) : undefined;
  const level = opts.logLevel ?? temporalLevel(log().level);
  const logger = new TemporalLogger(opts.logLevel ? log().child({}, { level: opts.logLevel.toLowerCase() }) : log());
  if (!runtimeInstalled) {
    // The SDK core's own logs (its gRPC retries while the server is away) go through the same logger and level.
    Runtime.install({
      logger,
      telemetryOptions: {
        // Other crates (gRPC, HTTP/2) only from WARN up unless tracing everything: their debug lines are frame dumps.
        logging: {
          filter: makeTelemetryFilterString({ core: level, other: level === 'TRACE' || level === 'ERROR' ? level : 'WARN' }),
          forward: {},
        },
        ...(opts.sdkMetricsPort === undefined
          ? {}
          : { metrics: { prometheus: { bindAddress: `0.0.0.0:${opts.sdkMetricsPort}` } } }),
      },
    });
    runtimeInstalled = true;
  }
  const ref = pipelineRef(opts.spec);
  const deps = await buildPipelineDeps(opts.spec, {
    roles: opts.roles,
    s3: opts.s3,
    baseDir: opts.baseDir,
    extraRoots: opts.extraRoots,
    embedServer: pool?.server ?? opts.embedServer,
  });
  const connection = await NativeConnection.connect(nativeConnectionOptions(opts));
  const dataConverter = dataConverterOf(opts);
  const tracing = opts.tracing;
  // Every activity's log lines carry its document and sink; with tracing, its span continues the workflow's trace.
  const common: Pick<SdkWorkerOptions, 'connection' | 'namespace' | 'dataConverter' | 'interceptors' | 'sinks'> = {
    connection,
    namespace: opts.namespace,
    dataConverter,
    interceptors: {
      activity: [
        activityLogFields,
        ...(tracing
          ? [
              (ctx: Context) => ({
                inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
                outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
              }),
            ]
          : []),
      ],
      ...(tracing && { client: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } }),
    },
    // The workflows' spans are made inside the sandbox and leave through this sink to the process's exporter.
    ...(tracing && { sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } }),
  };
  const workers: Worker[] = [];
  let supervisor: EmbedSupervisor | undefined;
  try {
    if (opts.roles.includes('ingest')) {
      const codePath = await workflowBundlePath(opts.bundleCacheDir ?? join(tmpdir(), 'ragline'), {
        tracing: !!tracing,
        logger,
      });
      workers.push(
        await Worker.create({
          ...common,
          taskQueue: ref.ingestQueue,
          workflowBundle: { codePath },
          activities: createIngestActivities(deps),
          maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 8,
        }),
      );
    }
    if (opts.roles.includes('embed') && !pool) {
      workers.push(
        await Worker.create({
          ...common,
          taskQueue: ref.embedQueue,
          activities: createEmbedActivities(deps),
          // Many documents at once: their texts meet in the micro-batcher, which runs one model call at a time.
          maxConcurrentActivityTaskExecutions: opts.embedConcurrency ?? 16,
        }),
      );
    }
    if (pool) {
      const activities = createEmbedActivities(deps);
      const embedWorker = {
        ...common,
        taskQueue: ref.embedQueue,
        activities,
        maxConcurrentActivityTaskExecutions: opts.embedConcurrency ?? pool.slots,
        // A drain (SIGTERM, or a pause for the server) lets the held activities finish their requests for up to the
        // activities' heartbeat timeout; Temporal would give one that takes longer to another worker anyway.
        shutdownGraceTime: '30 seconds',
      };
      // Created here once, so a Temporal or option error fails the start instead of the first resume.
      const first = await Worker.create(embedWorker);
      let spare: Worker | undefined = first;
      supervisor = superviseEmbedWorker({
        server: pool.server,
        pipeline: pipelineLabel(ref),
        createWorker: async () => {
          const w = spare ?? (await Worker.create(embedWorker));
          spare = undefined;
          return w;
        },
        ...(opts.embedProbe && {
          probeIntervalMs: opts.embedProbe.intervalMs,
          probeTimeoutMs: opts.embedProbe.timeoutMs,
          failuresToPause: opts.embedProbe.failuresToPause,
        }),
      });
      // Read by each embed call (the activities hold `deps` itself): a pause abandons what the server holds.
      const sup = supervisor;
      deps.serverLost = () => sup.serverLost();
    }
  } catch (err) {
    await deps.close();
    await connection.close();
    throw err;
  }
  const done = Promise.all([...workers.map((w) => w.run()), supervisor?.done]).finally(async () => {
    await deps.close();
    await connection.close();
  });
  return {
    done: done.then(() => undefined),
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await supervisor?.shutdown();
      await done.catch(() => undefined);
    },
    ...(supervisor && { embedSupervisor: supervisor }),
  };
}

/**
 * For a `pool` embedder: the worker's server, its `/info` checked against the spec (EmbedServerMismatchError,
 * EmbedServerUnreachableError), and the embed activities to run at once by default.
 */
async function checkedPoolServer(opts: WorkerOptions): Promise<{ server: string; slots: number } | undefined> {
  const e = opts.spec.embedder;
  if (e.kind !== 'pool') return undefined;
  // RAGLINE_EMBED_SERVER here too, so the commands that run workers in their own process (`ingest run`) honour it.
  const server = opts.embedServer ?? (process.env.RAGLINE_EMBED_SERVER || DEFAULT_EMBED_SERVER);
  const info = await readPoolServerInfo(server);
  checkPoolServer(info, e, server);
  const slots = poolActivitySlots(info, e);
  log().info({ pipeline: opts.spec.name, embedServer: server, model: info.model_id, slots }, 'embed server checked');
  return { server, slots };
}
