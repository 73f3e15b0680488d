import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import type { ServiceName } from '../../infra/service.ts';
import { Stack } from '../../infra/stack.ts';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { stack } from './stack.ts';

export interface RestartOptions {
  /**
   * `stop` (default) asks for a clean shutdown (SIGTERM, SIGKILL after 20 s); `kill` sends SIGKILL at once, a crash:
   * Kafka then recovers its logs on start.
   */
  mode?: 'stop' | 'kill';
  /** Runs while the service is down (produce, put objects...), before it starts again. */
  whileDown?: () => Promise<void>;
  /** Extra time the service stays down after `whileDown` (default 0). */
  downMs?: number;
  /**
   * Kafka only: after the broker answers, also wait until every partition of these topics has a leader again
   * (default: the S3 event topic). Producers and consumers retry through the gap anyway; this makes "healthy" mean
   * "a produce to these topics succeeds now".
   */
  topics?: string[];
  /**
   * Kafka only, default true when the S3 gateway runs: after the broker is back, put probe objects into the bucket
   * `ragline-fault-probe` (no pipeline watches it) until one's event reaches the event topic. The gateway's Kafka
   * writer reconnects on its own, but it caches topic metadata: events it sends while that cache still says
   * "partition has no leader" are dropped (logged in s3.log as "failed to send kafka event"), for up to several
   * seconds after the broker is healthy. Waiting here makes events of later puts reliable again.
   */
  waitForS3Events?: boolean;
}

export interface RestartReport {
  /** How long the service was unreachable, from the stop to healthy again (S3 event wait excluded). */
  downForMs: number;
  /** Probe objects put after the restart whose event the gateway dropped (see `waitForS3Events`). */
  s3EventsLost: number;
}

/**
 * Stops a running service of the local stack (any of them: a broker, the S3 server, Temporal, a sink, PostgreSQL) and
 * starts it again on the same data dir, through the stack's own supervisor (same command line, pid file and log), and
 * waits until it is healthy. Other services keep running: clients of the restarted one see connection errors and
 * must reconnect on their own, which is what fault tests look at. Fails when the service is not running under this
 * stack.
 */
export async function restartService(name: ServiceName, opts: RestartOptions = {}): Promise<RestartReport> {
  const s = new Stack(stack);
  if (s.supervisor.runningPid(name) === undefined)
    throw new Error(`${name} is not running under this stack (data dir ${stack.dataDir}); start it with npm run infra:up`);
  const stoppedAt = Date.now();
  await s.supervisor.stop(name, opts.mode === 'kill' ? 0 : 20_000);
  await opts.whileDown?.();
  if (opts.downMs) await sleep(opts.downMs);
  // `up` skips what is already running and starts only this service, once its dependencies are healthy.
  await s.up([name]);
  if (name === 'kafka') await waitForLeaders(opts.topics ?? [stack.s3.eventTopic]);
  const downForMs = Date.now() - stoppedAt;
  const probeS3 = name === 'kafka' && (opts.waitForS3Events ?? true) && s.supervisor.runningPid('s3') !== undefined;
  return { downForMs, s3EventsLost: probeS3 ? await waitForS3Events() : 0 };
}

const PROBE_BUCKET = 'ragline-fault-probe';

/** Puts a fresh probe object every 2 s until one's event is on the topic; returns how many events were dropped. */
async function waitForS3Events(timeoutMs = 60_000): Promise<number> {
  hideKafkajsTimerWarning();
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${stack.ports.s3}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: stack.s3.accessKey, secretAccessKey: stack.s3.secretKey },
  });
  const kafka = new Kafka({
    clientId: 'ragline-faults',
    brokers: [`127.0.0.1:${stack.ports.kafka}`],
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: `ragline-fault-probe-${Date.now().toString(36)}` });
  const seen = new Set<string>();
  const sent: string[] = [];
  try {
    await s3.send(new CreateBucketCommand({ Bucket: PROBE_BUCKET })).catch((err: Error) => {
      if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
    });
    await consumer.connect();
    await consumer.subscribe({ topic: stack.s3.eventTopic, fromBeginning: false });
    let joined!: () => void;
    const ready = new Promise<void>((r) => (joined = r));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      eachMessage: async ({ message }) => {
        const body = JSON.parse(message.value?.toString() ?? '{}') as {
          Records?: Array<{ s3?: { bucket?: { name?: string }; object?: { key?: string } } }>;
        };
        for (const r of body.Records ?? []) if (r.s3?.bucket?.name === PROBE_BUCKET) seen.add(r.s3.object?.key ?? '');
      },
    });
    await ready;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const key = `restart-probe/${Date.now()}-${sent.length}`;
      await s3.send(new PutObjectCommand({ Bucket: PROBE_BUCKET, Key: key, Body: 'probe' }));
      sent.push(key);
      for (let i = 0; i < 20 && !seen.has(key); i++) await sleep(100);
      if (seen.has(key)) return sent.filter((k) => !seen.has(k)).length;
    }
    throw new Error(
      `kafka restarted but the S3 gateway published no event within ${timeoutMs} ms (see ${stack.dataDir}/logs/s3.log)`,
    );
  } finally {
    await consumer.disconnect().catch(() => undefined);
    for (const key of sent) await s3.send(new DeleteObjectCommand({ Bucket: PROBE_BUCKET, Key: key })).catch(() => undefined);
    s3.destroy();
  }
}

async function waitForLeaders(topics: string[], timeoutMs = 60_000): Promise<void> {
  hideKafkajsTimerWarning();
  const admin = new Kafka({
    clientId: 'ragline-faults',
    brokers: [`127.0.0.1:${stack.ports.kafka}`],
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const { topics: meta } = await admin.fetchTopicMetadata({ topics });
        const leaderless = meta.flatMap((t) => t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`));
        if (leaderless.length === 0) return;
        last = `no leader for ${leaderless.join(', ')}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(250);
    }
    throw new Error(`kafka restarted but topics are not writable after ${timeoutMs} ms: ${last}`);
  } finally {
    await admin.disconnect();
  }
}
