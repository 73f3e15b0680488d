import { DefaultLogger, makeTelemetryFilterString, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createEmbedActivities, createIngestActivities } from '../activities/index.ts';
import { pipelineRef } from '../pipeline/ref.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workflowBundlePath } from './bundle.ts';
import { buildPipelineDeps, type S3Access, type WorkerRole } from './build-deps.ts';
import { dataConverterOf, nativeConnectionOptions, type TemporalTarget } from '../sdk/temporal-connection.ts';

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
  if (!runtimeInstalled) {
    const level = opts.logLevel ?? 'WARN';
    // The SDK core's own logs (its gRPC retries while the server is away) go through the same logger and level.
    Runtime.install({
      logger: new DefaultLogger(level),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: level, other: level }), forward: {} },
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
  const workers: Worker[] = [];
  try {
    if (opts.roles.includes('ingest')) {
      workers.push(
        await Worker.create({
          connection,
          namespace: opts.namespace,
          dataConverter,
          taskQueue: ref.ingestQueue,
          workflowBundle: { codePath: await workflowBundlePath(opts.bundleCacheDir ?? join(tmpdir(), 'ragline')) },
          activities: createIngestActivities(deps),
          maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 8,
        }),
      );
    }
    if (opts.roles.includes('embed')) {
      workers.push(
        await Worker.create({
          connection,
          namespace: opts.namespace,
          dataConverter,
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
