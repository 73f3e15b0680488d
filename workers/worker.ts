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
}

export interface RunningWorkers {
  /** Resolves when every worker has stopped (after `shutdown()` or a SIGINT/SIGTERM). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

/**
 * Starts the ingest worker (workflows + CPU activities) and/or the embed worker (embedding activity) of a pipeline.
 * SIGINT/SIGTERM make both stop polling, finish the activities they hold, and close their connectors.
 */
export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
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
    if (opts.roles.includes('embed')) {
      workers.push(
        await Worker.create({
          ...common,
          taskQueue: ref.embedQueue,
          activities: createEmbedActivities(deps),
          // Many documents at once: their texts meet in the micro-batcher, which runs one model call at a time.
          maxConcurrentActivityTaskExecutions: 16,
        }),
      );
    }
  } catch (err) {
    await deps.close();
    await connection.close();
    throw err;
  }
  const done = Promise.all(workers.map((w) => w.run())).finally(async () => {
    await deps.close();
    await connection.close();
  });
  return {
    done: done.then(() => undefined),
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done.catch(() => undefined);
    },
  };
}
