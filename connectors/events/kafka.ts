import { Kafka, logLevel, type Consumer, type EachBatchPayload, type IHeaders, type KafkaConfig, type Producer } from 'kafkajs';
import { z } from 'zod';
import { hideKafkajsTimerWarning } from '../shared/node-warnings.ts';
import {
  backoffDelay,
  nextOffset,
  type BatchHandler,
  type DeadLetter,
  type DeadLetterSink,
  type EventMessage,
  type EventSource,
  type PartitionRef,
  type RetryingPartition,
} from './event-source.ts';
import { metrics } from '../shared/metrics.ts';

/**
 * TLS and SASL of a connection to the brokers, secrets already read (a trigger spec names them by reference:
 * trigger-config.ts). Default: plain TCP, no authentication.
 */
export const KafkaSecurity = z.object({
  /** `true`: TLS with the public roots. An object: TLS with a private CA and/or a client certificate (PEM texts). */
  ssl: z
    .union([
      z.boolean(),
      z.object({
        ca: z.string().min(1).optional(),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** Passphrase of an encrypted client key. */
        passphrase: z.string().min(1).optional(),
        /** The name the broker certificates must carry, when it is not the broker address's host. */
        serverName: z.string().min(1).optional(),
      }),
    ])
    .optional(),
  sasl: z
    .object({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional(),
});
export type KafkaSecurity = z.infer<typeof KafkaSecurity>;

/** The kafkajs client options for a connection's security: certificates verified always, never skipped. */
export function kafkajsSecurity(s: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (s.ssl === true) out.ssl = true;
  else if (s.ssl) {
    const { ca, cert, key, passphrase, serverName } = s.ssl;
    out.ssl = {
      rejectUnauthorized: true,
      ...(ca ? { ca: [ca] } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(passphrase ? { passphrase } : {}),
      ...(serverName ? { servername: serverName } : {}),
    };
  }
  if (s.sasl) {
    const { mechanism, username, password } = s.sasl;
    out.sasl =
      mechanism === 'plain'
        ? { mechanism, username, password }
        : mechanism === 'scram-sha-256'
          ? { mechanism, username, password }
          : { mechanism, username, password };
  }
  return out;
}

const Subscription = z.union([z.string().min(1), z.object({ topic: z.string().min(1), fromBeginning: z.boolean().optional() })]);

export const KafkaEventSourceConfig = KafkaSecurity.extend({
  brokers: z.array(z.string().min(1)).min(1),
  clientId: z.string().min(1).default('ragline-trigger'),
  /** Members of one group share the partitions: run more trigger processes to share the load. */
  groupId: z.string().min(1),
  /** A topic name (read from `fromBeginning`), or a topic with its own starting point. */
  topics: z.array(Subscription).min(1),
  /** Where a group with no committed offset starts: the oldest message (true) or the next new one. Default true. */
  fromBeginning: z.boolean().default(true),
  /** The broker drops a member it has not heard from for this long. Default 30 s. */
  sessionTimeoutMs: z.number().int().min(6_000).default(30_000),
  heartbeatIntervalMs: z.number().int().min(100).default(3_000),
  /** Partitions handled at once; each partition stays in order. Default 4. */
  partitionsConsumedConcurrently: z.number().int().min(1).max(256).default(4),
  /** Bytes fetched per partition and request: the bound on what one batch holds in memory. Default 1 MiB. */
  maxBytesPerPartition: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** How long a fetch waits for new messages; also how long `stop()` may wait for an idle fetch. Default 1 s. */
  maxWaitTimeMs: z.number().int().min(10).max(30_000).default(1_000),
  /** Backoff between attempts at a failing partition. */
  retry: z
    .object({ initialMs: z.number().int().min(1).default(250), maxMs: z.number().int().min(1).default(10_000) })
    .default({ initialMs: 250, maxMs: 10_000 }),
});
export type KafkaEventSourceConfig = z.infer<typeof KafkaEventSourceConfig>;
export type KafkaEventSourceConfigInput = z.input<typeof KafkaEventSourceConfig>;

export const KafkaDeadLetterConfig = KafkaSecurity.extend({
  brokers: z.array(z.string().min(1)).min(1),
  clientId: z.string().min(1).default('ragline-trigger-dlq'),
});
export type KafkaDeadLetterConfigInput = z.input<typeof KafkaDeadLetterConfig>;

/** What the source reports (JSON-friendly fields; never message bodies). */
export type EventSourceLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

function kafkaClient(brokers: string[], clientId: string, security: KafkaSecurity): Kafka {
  hideKafkajsTimerWarning();
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, ...kafkajsSecurity(security) });
}

function toMessage(m: { key: Buffer | null; value: Buffer | null; offset: string; timestamp: string; headers?: IHeaders }) {
  const headers: EventMessage['headers'] = {};
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    headers[name] = first === undefined ? undefined : Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return { key: m.key, value: m.value, offset: m.offset, timestamp: m.timestamp, headers };
}

/**
 * A consumer-group member on kafkajs. Offsets are committed only by this code, after the handler finished the
 * messages (autoCommit off, no auto-resolve). A failing partition is paused rather than retried inside `eachBatch`:
 * kafkajs fetches again only when every batch of a fetch is done, so retrying in place would stall every partition
 * of the broker behind the one that fails.
 */
export function createKafkaEventSource(input: KafkaEventSourceConfigInput, opts: { log?: EventSourceLog } = {}): EventSource {
  const config = KafkaEventSourceConfig.parse(input);
  const log: EventSourceLog = opts.log ?? (() => undefined);
  const consumer: Consumer = kafkaClient(config.brokers, config.clientId, config).consumer({
    groupId: config.groupId,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: config.heartbeatIntervalMs,
    maxBytesPerPartition: config.maxBytesPerPartition,
    maxWaitTimeInMs: config.maxWaitTimeMs,
    allowAutoTopicCreation: false,
  });
  const retrying = new Map<string, RetryingPartition>();
  const resumeTimers = new Map<string, NodeJS.Timeout>();
  const inFlight = new Set<AbortController>();
  let stopping = false;
  let started = false;

  async function handleBatch(handler: BatchHandler, payload: EachBatchPayload): Promise<void> {
    const { topic, partition } = payload.batch;
    const messages = payload.batch.messages.map(toMessage);
    if (messages.length === 0) return;
    const abort = new AbortController();
    inFlight.add(abort);
    if (stopping) abort.abort();
    let resolved: string | undefined;
    let committed: string | undefined;
    const commit = async (): Promise<void> => {
      if (resolved === undefined || resolved === committed) return;
      const offset = nextOffset(resolved);
      await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
      committed = resolved;
    };
    // kafkajs throttles heartbeats to heartbeatInterval itself; a rebalance shows up here as an error.
    const beat = async (): Promise<void> => {
      try {
        await payload.heartbeat();
      } catch (err) {
        log('info', 'heartbeat refused: finishing the message in hand', { topic, partition, error: String(err) });
        abort.abort();
      }
    };
    const timer = setInterval(() => void beat(), Math.max(100, Math.floor(config.heartbeatIntervalMs / 3)));
    try {
      await handler(
        { topic, partition, messages },
        {
          resolve(offset) {
            if (resolved !== undefined && BigInt(offset) <= BigInt(resolved)) return;
            resolved = offset;
            payload.resolveOffset(offset);
          },
          commit,
          heartbeat: beat,
          signal: abort.signal,
        },
      );
      if (!abort.signal.aborted) {
        resolved = messages[messages.length - 1]!.offset;
        payload.resolveOffset(resolved);
      }
      retrying.delete(key(topic, partition));
    } catch (err) {
      if (!abort.signal.aborted && !stopping) holdBack(payload, topic, partition, err);
    } finally {
      clearInterval(timer);
      inFlight.delete(abort);
      // A failed commit (a rebalance took the partition away) only means redelivery, which the contract allows.
      await commit().catch((err) => log('warn', 'commit failed', { topic, partition, error: String(err) }));
    }
  }

  function holdBack(payload: EachBatchPayload, topic: string, partition: number, err: unknown): void {
    const k = key(topic, partition);
    const attempts = (retrying.get(k)?.attempts ?? 0) + 1;
    const delay = backoffDelay(attempts, config.retry.initialMs, config.retry.maxMs);
    const lastError = err instanceof Error ? err.message : String(err);
    retrying.set(k, { topic, partition, attempts, nextAttemptAt: Date.now() + delay, lastError });
    log('warn', 'handler failed: partition held back', { topic, partition, attempts, delayMs: delay, error: lastError });
    // Paused, the partition is not fetched; on resume kafkajs fetches again from the first unresolved offset.
    const resume = payload.pause();
    clearTimeout(resumeTimers.get(k));
    resumeTimers.set(
      k,
      setTimeout(() => {
        resumeTimers.delete(k);
        if (!stopping) resume();
      }, delay),
    );
  }

  return {
    async run(handler) {
      if (started) throw new Error('this event source is already running');
      started = true;
      await consumer.connect();
      for (const t of config.topics) {
        const topic = typeof t === 'string' ? t : t.topic;
        const fromBeginning = typeof t === 'string' ? config.fromBeginning : (t.fromBeginning ?? config.fromBeginning);
        await consumer.subscribe({ topics: [topic], fromBeginning });
      }
      // The first fetch resolves where a new group starts (earliest or latest): wait for it, so a caller that
      // produces right after run() returns is never skipped by a `fromBeginning: false` subscription.
      const firstFetch = new Promise<void>((resolve, reject) => {
        const offFetch = consumer.on(consumer.events.FETCH, () => {
          offFetch();
          offCrash();
          resolve();
        });
        const offCrash = consumer.on(consumer.events.CRASH, (e) => {
          if (e.payload.restart) return;
          offFetch();
          offCrash();
          reject(e.payload.error);
        });
      });
      consumer.on(consumer.events.CRASH, (e) =>
        log('error', 'consumer crashed', { error: String(e.payload.error), restart: e.payload.restart }),
      );
      // Lag per partition as the consumer sees it after each batch (the high watermark minus the batch's last offset).
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        const { topic, partition, offsetLag } = e.payload;
        metrics.kafkaLag.set({ group: config.groupId, topic, partition: String(partition) }, Number(offsetLag));
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
        eachBatch: (payload) => handleBatch(handler, payload),
      });
      await firstFetch;
    },

    async stop() {
      if (stopping) return;
      stopping = true;
      for (const t of resumeTimers.values()) clearTimeout(t);
      resumeTimers.clear();
      for (const a of inFlight) a.abort();
      // disconnect() waits for the batches in hand (which commit what they resolved), then leaves the group.
      await consumer.disconnect();
    },

    pause(p: PartitionRef) {
      consumer.pause([{ topic: p.topic, partitions: [p.partition] }]);
    },

    resume(p: PartitionRef) {
      consumer.resume([{ topic: p.topic, partitions: [p.partition] }]);
    },

    retrying() {
      return [...retrying.values()].map((r) => ({ ...r }));
    },
  };
}

/**
 * Dead letters to Kafka topics, created on first use when missing (the broker's default partition count). Acks from
 * every in-sync replica: the trigger commits the original offset once this resolves.
 */
export function createKafkaDeadLetterSink(input: KafkaDeadLetterConfigInput): DeadLetterSink {
  const config = KafkaDeadLetterConfig.parse(input);
  const kafka = kafkaClient(config.brokers, config.clientId, config);
  const ensured = new Set<string>();
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;

  const connected = (): Promise<Producer> =>
    (connecting ??= (async () => {
      const p = kafka.producer({ allowAutoTopicCreation: false });
      await p.connect();
      producer = p;
      return p;
    })().catch((err) => {
      connecting = undefined;
      throw err;
    }));

  async function ensureTopic(topic: string): Promise<void> {
    if (ensured.has(topic)) return;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
    ensured.add(topic);
  }

  return {
    async send(topic, records: DeadLetter[]) {
      if (records.length === 0) return;
      await ensureTopic(topic);
      const p = await connected();
      await p.send({ topic, acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })) });
    },
    async close() {
      await producer?.disconnect();
    },
  };
}
