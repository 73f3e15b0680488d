import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { missingTestTools, testToolPaths } from '../../infra/services/test-tools.ts';
import { stack } from './stack.ts';

/** One record for Kafka's console producer; a null value is a tombstone, a null key an unkeyed record. */
export interface ConsoleRecord {
  key: string | null;
  value: string | null;
}

export interface ConsoleProducerOptions {
  topic: string;
  /** `host:port` list; default: the local stack's broker. */
  brokers?: string[];
  records: ConsoleRecord[];
  /** Send one record at a time, each acknowledged before the next is read (`--sync`). Default false: batched. */
  sync?: boolean;
  /** Kill the producer after this long (default 120 s). */
  timeoutMs?: number;
}

/**
 * Produces `records` with Kafka's own console producer (org.apache.kafka.tools.ConsoleProducer, the class behind
 * kafka-console-producer.sh), one JVM for all records, in order. Keys go through `parse.key` with a separator that
 * occurs in no key or value, tombstones through `null.marker`; with keys, partitions follow the Java client's
 * murmur2 partitioner (kafkajs's default partitioner agrees). acks=all. Each record is one stdin line, so keys and
 * values cannot contain line breaks (refused here). Fails with the producer's stderr when it exits non-zero or logs
 * an error: in batched mode a failed send is only logged by the tool, never turned into an exit code.
 */
export async function produceWithConsoleProducer(opts: ConsoleProducerOptions): Promise<void> {
  const missing = missingTestTools(stack);
  if (missing.length > 0) throw new Error(`not installed: ${missing.join('; ')} (run npm run infra:up)`);
  for (const [i, r] of opts.records.entries()) {
    for (const field of [r.key, r.value]) {
      if (field !== null && /[\r\n]/.test(field))
        throw new Error(`record ${i}: the console producer reads one record per line; keys and values cannot hold line breaks`);
    }
  }
  const separator = unusedToken(opts.records, 'sep');
  const nullMarker = unusedToken(opts.records, 'null');
  const paths = testToolPaths(stack);
  const brokers = (opts.brokers ?? [`127.0.0.1:${stack.ports.kafka}`]).join(',');
  const args = [
    // A short-lived client: skip the optimising JIT tiers, they cost more start-up than they save.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-Xshare:auto',
    `-Dlog4j2.configurationFile=${paths.kafkaToolsLog4j}`,
    '-cp',
    paths.kafkaToolsClasspath,
    'org.apache.kafka.tools.ConsoleProducer',
    '--bootstrap-server',
    brokers,
    '--topic',
    opts.topic,
    '--request-required-acks',
    'all',
    '--timeout',
    '5',
    '--property',
    'parse.key=true',
    '--property',
    `key.separator=${separator}`,
    '--property',
    `null.marker=${nullMarker}`,
    ...(opts.sync ? ['--sync'] : []),
  ];
  const input = opts.records.map((r) => `${r.key ?? nullMarker}${separator}${r.value ?? nullMarker}\n`).join('');
  const { code, stderr } = await runJava(args, input, opts.timeoutMs ?? 120_000);
  // The tool logs failed sends (ErrorLoggingCallback) at ERROR and still exits 0; our log4j config prints levels.
  const errorLines = stderr.split('\n').filter((l) => /^(ERROR|FATAL) /.test(l) || /Exception/.test(l));
  if (code !== 0 || errorLines.length > 0)
    throw new Error(`kafka console producer ${code === 0 ? 'logged errors' : `exited ${code}`}:\n${stderr.trim()}`);
}

/**
 * A token that occurs in no key or value, for the separator and the null marker. Printable and free of `=`, `\`
 * and `:` (the tool reads `--property k=v` pairs), so it survives as one argv entry.
 */
function unusedToken(records: ConsoleRecord[], kind: string): string {
  for (;;) {
    const token = `~${kind}${randomBytes(6).toString('hex')}~`;
    if (!records.some((r) => r.key?.includes(token) || r.value?.includes(token))) return token;
  }
}

function runJava(args: string[], input: string, timeoutMs: number): Promise<{ code: number; stderr: string }> {
  const java = process.env.JAVA_HOME ? `${process.env.JAVA_HOME}/bin/java` : 'java';
  return new Promise((resolve, reject) => {
    const child = spawn(java, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kafka console producer did not finish within ${timeoutMs} ms:\n${stderr.trim()}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${java}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stderr });
    });
    // A producer that dies early closes stdin; the exit handler reports why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input, 'utf8');
  });
}

function kafkaClient(brokers?: string[]): Kafka {
  hideKafkajsTimerWarning();
  return new Kafka({
    clientId: 'ragline-test-tools',
    brokers: brokers ?? [`127.0.0.1:${stack.ports.kafka}`],
    logLevel: logLevel.NOTHING,
  });
}

/** Creates a topic and waits for its partitions' leaders; a topic that already exists is left as it is. */
export async function createTopic(topic: string, partitions = 3, brokers?: string[]): Promise<void> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopic(topic: string, brokers?: string[]): Promise<void> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

export interface TopicRecord {
  partition: number;
  offset: string;
  key: string | null;
  /** null for a tombstone. */
  value: string | null;
  headers: Record<string, string>;
}

/** Each partition's end offset (high watermark) now: pass it as `readTopic`'s `after` to read only what follows. */
export async function topicEndOffsets(topic: string, brokers?: string[]): Promise<Map<number, bigint>> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every record in `topic` up to the end offsets it has when called (the high watermarks), ordered by partition then
 * offset, read with kafkajs under a throwaway group id (nothing is committed). Finishes as soon as each partition
 * reaches its end offset, so it never waits on a timeout to decide that it is done. With `after` (from
 * `topicEndOffsets`), records before those offsets are left out (they are still fetched: fine for test topics).
 */
export async function readTopic(
  topic: string,
  opts: { brokers?: string[]; timeoutMs?: number; after?: Map<number, bigint> } = {},
): Promise<TopicRecord[]> {
  const kafka = kafkaClient(opts.brokers);
  const ends = await topicEndOffsets(topic, opts.brokers);
  const out: TopicRecord[] = [];
  const pending = new Set([...ends].filter(([p, high]) => high > (opts.after?.get(p) ?? 0n)).map(([p]) => p));
  if (pending.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `ragline-read-${randomBytes(6).toString('hex')}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`readTopic(${topic}): partitions ${[...pending].join(', ')} not read to their end`)),
        opts.timeoutMs ?? 30_000,
      );
      void consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const high = ends.get(partition) ?? 0n;
            const offset = BigInt(message.offset);
            if (offset < high && offset >= (opts.after?.get(partition) ?? 0n)) {
              out.push({
                partition,
                offset: message.offset,
                key: message.key === null ? null : message.key.toString('utf8'),
                value: message.value === null ? null : message.value.toString('utf8'),
                headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
              });
            }
            if (offset + 1n >= high) pending.delete(partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}
