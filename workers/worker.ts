import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createEmbedActivities, createIngestActivities } from '../activities/index.ts';
import { pipelineRef } from '../pipeline/ref.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { buildPipelineDeps, type S3Access, type WorkerRole } from './build-deps.ts';

export interface WorkerOptions {
  spec: PipelineSpec;
  address: string;
  namespace: string;
  roles: WorkerRole[];
  s3: S3Access;
  /** Relative paths in the spec resolve against this folder. */
  baseDir: string;
  /** Document workflows' CPU activities at once (parse, chunk, upsert). Default 4. */
  maxConcurrentActivities?: number;
  logLevel?: LogLevel;
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
    Runtime.install({ logger: new DefaultLogger(opts.logLevel ?? 'WARN') });
    runtimeInstalled = true;
  }
  const ref = pipelineRef(opts.spec);
  const deps = await buildPipelineDeps(opts.spec, { roles: opts.roles, s3: opts.s3, baseDir: opts.baseDir });
  const connection = await NativeConnection.connect({ address: opts.address });
  const workers: Worker[] = [];
  try {
    if (opts.roles.includes('ingest')) {
      workers.push(
        await Worker.create({
          connection,
          namespace: opts.namespace,
          taskQueue: ref.ingestQueue,
          workflowsPath: new URL('../workflows/index.ts', import.meta.url).pathname,
          activities: createIngestActivities(deps),
          maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 4,
        }),
      );
    }
    if (opts.roles.includes('embed')) {
      workers.push(
        await Worker.create({
          connection,
          namespace: opts.namespace,
          taskQueue: ref.embedQueue,
          activities: createEmbedActivities(deps),
          // One model per process: concurrent runs would only fight over the same cores.
          maxConcurrentActivityTaskExecutions: 1,
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
