// `npm run bench:events -- --json [--events N] [--partitions P] [--concurrency C] [--reps R] [--objects M]
// [--put-interval-ms MS] [--poll-ms MS] [--embedders hash,local]`: two measurements of the event path, on the running
// local stack.
//
// 1. Throughput: N document events (distinct uris, spread evenly over P partitions of a fresh topic) are produced
//    first; then ONE trigger consumes them, and its events/s (first signal-with-start sent to last one accepted, read
//    from a client interceptor, so the consumer's group join is not counted) is compared with a bare loop of
//    `signalDocument` from the same client, in as many lanes as the trigger handles partitions at once, each lane
//    taking the events of its partitions in order; and with one lane (sequential). No worker polls the pipeline's
//    task queue: workflows start and wait. Phases alternate their order over the reps (medians are reported), use
//    uris of their own, and every workflow a phase started is terminated before the next one starts.
// 2. Latency: objects put one at a time at a steady pace into a fresh bucket of the S3 server, whose notifications
//    reach an in-process trigger through the stack's event topic; in-process ingest and embed workers write to Chroma.
//    For each object, the time from the put's response to the first poll that finds its chunks in the sink. One
//    warm-up object per embedder (the first model call, the collection's creation) is not counted.
// Prints one JSON object; progress goes to stderr. Everything the bench makes (topics, groups, workflows, bucket,
// collections, temp folder) is removed at the end.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pLimit from 'p-limit';
import type { EventSourceLog } from '../connectors/events/kafka.ts';
import { hideKafkajsTimerWarning } from '../connectors/shared/node-warnings.ts';
import { loadStackConfig } from '../infra/config.ts';
import { pipelineRef } from '../pipeline/ref.ts';
import { indexAlias, indexName, validatePipelineSpec, type PipelineSpec, type PipelineSpecInput } from '../pipeline/spec.ts';
import { signalDocument } from '../sdk/documents.ts';
import { workflowBundlePath } from '../workers/bundle.ts';
import { createSinks } from '../workers/build-deps.ts';
import { startTrigger } from '../workers/trigger.ts';
import { startWorkers } from '../workers/worker.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    /** Events per phase of the throughput run; 0 skips it. */
    events: { type: 'string', default: '2000' },
    partitions: { type: 'string', default: '4' },
    /** The trigger's partitionsConsumedConcurrently, and the bare loop's lanes (at most one per partition). */
    concurrency: { type: 'string', default: '4' },
    reps: { type: 'string', default: '1' },
    /** Objects per embedder in the latency run; 0 skips it. */
    objects: { type: 'string', default: '30' },
    'put-interval-ms': { type: 'string', default: '500' },
    /** How often each pending object's chunks are looked for in the sink. */
    'poll-ms': { type: 'string', default: '50' },
    embedders: { type: 'string', default: 'hash,local' },
  },
});

const stack = loadStackConfig();
const brokers = [`127.0.0.1:${stack.ports.kafka}`];
const tag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const progress = (msg: string): void => void process.stderr.write(`[bench:events] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const triggerLog: EventSourceLog = (level, msg, fields) => {
  if (level !== 'info') progress(`trigger ${level}: ${msg} ${JSON.stringify(fields ?? {})}`);
};

function positiveInt(name: string, min = 1): number {
  const v = Number(args[name as keyof typeof args]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} takes an integer >= ${min}`);
  return v;
}

/** When signal-with-start calls went out and came back, whoever made them (the trigger or the bare loop). */
class SignalClock {
  first = Infinity;
  last = 0;
  done = 0;
  reset(): void {
    this.first = Infinity;
    this.last = 0;
    this.done = 0;
  }
  interceptor(): WorkflowClientInterceptor {
    return {
      signalWithStart: async (input, next) => {
        this.first = Math.min(this.first, performance.now());
        const runId = await next(input);
        this.last = performance.now();
        this.done++;
        return runId;
      },
    };
  }
  get seconds(): number {
    return (this.last - this.first) / 1000;
  }
}

function baseSpec(name: string, dir: string, extra: Partial<PipelineSpecInput>): PipelineSpec {
  return validatePipelineSpec({
    name,
    version: 1,
    tenant: 'bench',
    chunker: { kind: 'recursive', chunkSize: 240, chunkOverlap: 24 },
    embedder: { kind: 'hash', dims: 384 },
    sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
    blobStore: { kind: 'local-dir', root: join(dir, `${name}-blobs`) },
    ledger: { kind: 'sqlite', path: join(dir, `${name}-ledger.sqlite`) },
    ...extra,
  });
}

/** Terminates every running workflow of the pipeline version (listed by its search attribute) until none is left. */
async function terminateAll(client: Client, spec: PipelineSpec, expectAtLeast = 0): Promise<number> {
  const query = `Pipeline = '${spec.name}-v${spec.version}' AND ExecutionStatus = 'Running'`;
  const limit = pLimit(16);
  let terminated = 0;
  const deadline = Date.now() + 120_000;
  // Visibility may trail the starts by a moment: keep listing until it is empty and every start was seen.
  for (;;) {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
    if (ids.length === 0 && terminated >= expectAtLeast) break;
    if (Date.now() > deadline) throw new Error(`${spec.name}: workflows still running after 120 s (${ids.length} listed)`);
    if (ids.length === 0) {
      await sleep(200);
      continue;
    }
    const results = await Promise.allSettled(
      ids.map((id) => limit(() => client.workflow.getHandle(id).terminate('bench:events cleanup'))),
    );
    terminated += results.filter((r) => r.status === 'fulfilled').length;
  }
  return terminated;
}

interface ThroughputResult {
  trigger: number;
  bare: number;
  sequential: number;
}

async function throughput(client: Client, clock: SignalClock, admin: Admin, kafka: Kafka, dir: string) {
  const n = positiveInt('events', 0);
  const partitions = positiveInt('partitions');
  const concurrency = positiveInt('concurrency');
  const reps = positiveInt('reps');
  const spec = baseSpec(`bench-ev-${tag}`, dir, {});
  const ref = pipelineRef(spec);
  const uris = (phase: string, rep: number) =>
    Array.from({ length: n }, (_, i) => `s3://bench-events/${phase}${rep}/doc-${String(i).padStart(6, '0')}.md`);
  const topics: string[] = [];
  const groups: string[] = [];
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();

  /** Events of partition p are those with i % partitions === p: the same split for the trigger and the bare lanes. */
  async function runTrigger(rep: number): Promise<number> {
    const topic = `bench-events-${tag}-${rep}`;
    const groupId = `bench-events-${tag}-${rep}`;
    topics.push(topic, `${topic}.dlq`);
    groups.push(groupId);
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    const all = uris('trigger', rep);
    for (let i = 0; i < n; i += 500)
      await producer.send({
        topic,
        acks: -1,
        messages: all.slice(i, i + 500).map((uri, k) => ({
          key: uri,
          partition: (i + k) % partitions,
          value: JSON.stringify({ schema: 'ragline.document-event/v1', op: 'upsert', uri }),
        })),
      });
    const triggerSpec = { ...spec, triggers: [{ kind: 'kafka' as const, topic, groupId, startFrom: 'earliest' as const }] };
    clock.reset();
    const t0 = performance.now();
    const trigger = await startTrigger({
      specs: [triggerSpec],
      client,
      brokers,
      log: triggerLog,
      consumer: { partitionsConsumedConcurrently: concurrency },
    });
    try {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const s = trigger.stats();
        if (s.signalled >= n) break;
        if (s.deadLettered > 0) throw new Error(`the trigger dead-lettered ${s.deadLettered} events`);
        if (Date.now() > deadline) throw new Error(`the trigger signalled ${s.signalled} of ${n} in 300 s`);
        await sleep(10);
      }
    } finally {
      await trigger.stop();
    }
    progress(
      `trigger rep ${rep}: ${n} signals in ${clock.seconds.toFixed(2)} s ` +
        `(${((performance.now() - t0) / 1000).toFixed(2)} s with the group join)`,
    );
    return n / clock.seconds;
  }

  async function runBare(rep: number, lanes: number, phase: string): Promise<number> {
    const all = uris(phase, rep);
    clock.reset();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        for (let i = 0; i < n; i++)
          if ((i % partitions) % lanes === lane) await signalDocument(client, ref, all[i]!, { kind: 'upsert' });
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    progress(`${phase} rep ${rep} (${lanes} lane${lanes > 1 ? 's' : ''}): ${n} signals in ${seconds.toFixed(2)} s`);
    return n / seconds;
  }

  const lanes = Math.min(concurrency, partitions);
  const out: ThroughputResult[] = [];
  try {
    for (let rep = 0; rep < reps; rep++) {
      const r: Partial<ThroughputResult> = {};
      // Alternate which goes first, so neither always meets a server holding more finished workflows.
      const order = rep % 2 === 0 ? (['bare', 'trigger', 'sequential'] as const) : (['trigger', 'bare', 'sequential'] as const);
      for (const phase of order) {
        if (phase === 'trigger') r.trigger = await runTrigger(rep);
        else r[phase] = await runBare(rep, phase === 'bare' ? lanes : 1, phase);
        const killed = await terminateAll(client, spec, n);
        progress(`terminated ${killed} workflows`);
      }
      out.push(r as ThroughputResult);
    }
  } finally {
    await producer.disconnect();
    await terminateAll(client, spec).catch((err) => progress(`cleanup: ${String(err)}`));
    await admin.deleteGroups(groups).catch(() => undefined);
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics({ topics: topics.filter((t) => existing.has(t)) }).catch(() => undefined);
    rmSync(join(dir, `${spec.name}-ledger.sqlite`), { force: true });
  }
  const med = (k: keyof ThroughputResult) => median(out.map((r) => r[k]));
  return {
    events: n,
    partitions,
    concurrency: lanes,
    trigger_events_per_s: Math.round(med('trigger')),
    bare_events_per_s: Math.round(med('bare')),
    bare_sequential_events_per_s: Math.round(med('sequential')),
    ratio: Number((med('trigger') / med('bare')).toFixed(3)),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Prose documents of a few hundred words from the sample corpus's plain-text files, in a fixed order. */
function documents(m: number): string[] {
  const root = join(import.meta.dirname, '..', 'samples', 'corpus');
  const sentences = readdirSync(root)
    .filter((f) => /\.(md|txt)$/.test(f))
    .flatMap((f) => readFileSync(join(root, f), 'utf8').split(/(?<=\.)\s+/))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length > 20);
  return Array.from({ length: m }, (_, d) => {
    const body = Array.from({ length: 12 }, (_, k) => sentences[(d * 7 + k * 13) % sentences.length]).join(' ');
    return `Document ${d}\n\n${body}\n`;
  });
}

async function latency(client: Client, admin: Admin, dir: string, kind: 'hash' | 'local') {
  const m = positiveInt('objects', 0);
  const interval = positiveInt('put-interval-ms', 0);
  const pollMs = positiveInt('poll-ms');
  const name = `bench-lat-${kind}-${tag}`;
  const bucket = `bench-lat-${kind}-${tag}`;
  const groupId = `bench-lat-${kind}-${tag}`;
  const deadLetterTopic = `bench-lat-${kind}-${tag}.dlq`;
  const spec = baseSpec(name, dir, {
    embedder: kind === 'hash' ? { kind: 'hash', dims: 384 } : { kind: 'local-onnx' },
    // The stack's topic carries every bucket's notifications: other buckets' go to a dead-letter topic of our own.
    triggers: [
      { kind: 's3-events', topic: stack.s3.eventTopic, bucket, prefix: 'in/', groupId, startFrom: 'latest', deadLetterTopic },
    ],
  });
  const s3Access = {
    endpoint: `http://127.0.0.1:${stack.ports.s3}`,
    accessKeyId: stack.s3.accessKey,
    secretAccessKey: stack.s3.secretKey,
  };
  const s3 = new S3Client({
    endpoint: s3Access.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3Access.accessKeyId, secretAccessKey: s3Access.secretAccessKey },
  });
  const sink = (await createSinks(spec)).get('chroma')!;
  const keys: string[] = [];
  let workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
  let trigger: Awaited<ReturnType<typeof startTrigger>> | undefined;
  const put = async (key: string, body: string): Promise<number> => {
    keys.push(key);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    return performance.now();
  };
  /** ms from `putAt` to the end of the first poll that finds the object's chunks. */
  const searchable = async (key: string, putAt: number): Promise<number> => {
    const uri = `s3://${bucket}/${key}`;
    const deadline = putAt + 120_000;
    for (;;) {
      const ids = await sink.idsOfDocument(indexName(spec), spec.tenant, uri).catch(() => []);
      const now = performance.now();
      if (ids.length > 0) return now - putAt;
      if (now > deadline) throw new Error(`${uri} not searchable after 120 s`);
      await sleep(pollMs);
    }
  };
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    workers = await startWorkers({
      spec,
      address: `127.0.0.1:${stack.ports.temporal}`,
      namespace: stack.temporalNamespace,
      roles: ['ingest', 'embed'],
      s3: s3Access,
      baseDir: dir,
      bundleCacheDir: stack.cacheDir,
      logLevel: 'ERROR',
    });
    trigger = await startTrigger({ specs: [spec], client, brokers, log: triggerLog });
    const docs = documents(m + 1);
    const warm = await searchable('in/warm-up.txt', await put('in/warm-up.txt', docs[m]!));
    progress(`${kind}: warm-up object searchable after ${Math.round(warm)} ms`);
    const t0 = performance.now();
    const waits: Array<Promise<number>> = [];
    for (let i = 0; i < m; i++) {
      await sleep(Math.max(0, t0 + i * interval - performance.now()));
      const key = `in/doc-${String(i).padStart(4, '0')}.txt`;
      waits.push(searchable(key, await put(key, docs[i]!)));
    }
    const ms = await Promise.all(waits);
    const result = {
      p50: Math.round(percentile(ms, 50)),
      p95: Math.round(percentile(ms, 95)),
      max: Math.round(Math.max(...ms)),
      n: ms.length,
    };
    progress(`${kind}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await trigger?.stop();
    await workers?.shutdown();
    await terminateAll(client, spec).catch((err) => progress(`cleanup: ${String(err)}`));
    await Promise.allSettled(keys.map((Key) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch((err) => progress(`cleanup: ${String(err)}`));
    s3.destroy();
    // The alias pointer the first document made, then the index it points at (a sink refuses to drop an aliased one).
    await sink.deleteAlias(indexAlias(spec)).catch((err) => progress(`cleanup: ${String(err)}`));
    await sink.dropIndex(indexName(spec)).catch((err) => progress(`cleanup: ${String(err)}`));
    await sink.close();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    if ((await admin.listTopics()).includes(deadLetterTopic))
      await admin.deleteTopics({ topics: [deadLetterTopic] }).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const embedders = args.embedders.split(',').filter(Boolean);
  for (const e of embedders) if (e !== 'hash' && e !== 'local') throw new Error(`unknown embedder ${e}: use hash, local`);
  hideKafkajsTimerWarning();
  const kafka = new Kafka({ clientId: 'bench-events', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const clock = new SignalClock();
  const connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
  const client = new Client({
    connection,
    namespace: stack.temporalNamespace,
    interceptors: { workflow: [clock.interceptor()] },
  });
  const dir = mkdtempSync(join(tmpdir(), 'ragline-bench-events-'));
  const result: Record<string, unknown> = {};
  try {
    if (Number(args.events) > 0) Object.assign(result, await throughput(client, clock, admin, kafka, dir));
    if (Number(args.objects) > 0 && embedders.length > 0) {
      await workflowBundlePath(stack.cacheDir);
      const latency_ms: Record<string, unknown> = {};
      for (const e of embedders) latency_ms[e] = await latency(client, admin, dir, e as 'hash' | 'local');
      result.latency_ms = latency_ms;
    }
    result.cores = availableParallelism();
  } finally {
    await admin.disconnect();
    await connection.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(args.json ? JSON.stringify(result) : result);
}

await main();
