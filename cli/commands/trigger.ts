import { dirname, resolve } from 'node:path';
import { loadPipelineSpec, type PipelineSpec } from '../../pipeline/spec.ts';
import { connectClient } from '../../sdk/temporal-connection.ts';
import type { RunningTrigger } from '../../workers/trigger.ts';
import type { RunningWorkers } from '../../workers/worker.ts';
import { userCwd, type CliContext } from '../context.ts';
import { startMetricsEndpoint } from '../metrics.ts';
import { log } from '../../connectors/shared/log.ts';

export interface TriggerCommandOptions {
  /** More pipeline spec files served by this process (other versions of the pipeline: blue/green). */
  also?: string[];
  /** Also run each served version's ingest and embed workers in this process. */
  withWorkers?: boolean;
  /** Comma-separated bootstrap brokers for triggers that name none. Default: KAFKA_BROKERS, else the local stack. */
  brokers?: string;
  /** Stops the trigger (besides SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Serve Prometheus metrics (Kafka lag, and the workers' when --with-workers) on this port. Default: off. */
  metricsPort?: number | 'off';
}

/**
 * `ingest trigger`: consumes the Kafka topics the served specs declare and signals each document's workflow, until
 * SIGINT/SIGTERM; then it finishes the message in hand, commits, leaves its consumer groups and stops the workers.
 */
export async function triggerCommand(
  ctx: CliContext,
  opts: TriggerCommandOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const served: Array<{ spec: PipelineSpec; baseDir: string }> = [{ spec: ctx.spec, baseDir: ctx.baseDir }];
  for (const file of opts.also ?? []) {
    const path = resolve(userCwd(env), file);
    served.push({ spec: loadPipelineSpec(path), baseDir: dirname(path) });
  }
  const baseDirs = new Map(served.map((s) => [s.spec, s.baseDir]));
  const brokers = (opts.brokers ?? env.KAFKA_BROKERS ?? `127.0.0.1:${ctx.stack.ports.kafka}`)
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);

  const workers: RunningWorkers[] = [];
  // Every served version goes through the first spec's Temporal settings (one connection, one key ring).
  const client = await connectClient(ctx.temporal);
  let trigger: RunningTrigger | undefined;
  const metrics = await startMetricsEndpoint(opts.metricsPort ?? 'off', 'trigger');
  try {
    if (opts.withWorkers) {
      const { startWorkers } = await import('../../workers/worker.ts');
      for (const { spec, baseDir } of served) {
        workers.push(
          await startWorkers({
            ...ctx.temporal,
            spec,
            roles: ['ingest', 'embed'],
            s3: ctx.s3,
            baseDir,
            bundleCacheDir: ctx.stack.cacheDir,
          }),
        );
        log().info({ pipeline: spec.name, version: spec.version }, `workers for ${spec.name} v${spec.version} are polling`);
      }
    }
    const { startTrigger } = await import('../../workers/trigger.ts');
    trigger = await startTrigger({
      specs: served.map((s) => s.spec),
      client,
      brokers,
      baseDirOf: (spec) => baseDirs.get(spec) ?? ctx.baseDir,
    });
    for (const r of trigger.routes) {
      const where = r.kind === 's3-events' ? ` bucket ${r.bucket} prefix "${r.prefix}"` : '';
      log().info(
        { route: r },
        `trigger ${r.kind} ${r.topic}${where} -> ${r.pipeline} v${r.version} (group ${r.groupId}, brokers ${r.brokers.join(',')}, dead letters ${r.deadLetterTopic})`,
      );
    }
    log().info('trigger is consuming; Ctrl-C stops it');
    await untilStopped(opts.signal);
    log().info('trigger stopping: finishing the messages in hand');
  } finally {
    await trigger?.stop();
    await Promise.allSettled(workers.map((w) => w.shutdown()));
    await client.connection.close();
    await metrics?.close();
  }
}

function untilStopped(signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
}
