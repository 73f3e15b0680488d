// `npm run bench:sinks -- --json [--vectors N] [--sinks chroma,weaviate,milvus,pinecone] [--reps R]`: writes the same
// N records (384 dimensions like the default model, a chunk-sized text and the pipeline's metadata) through each sink's
// upsert and through the database's own client bulk-inserting them, each into a fresh collection, alternating the two
// and taking medians. Prints one JSON line per sink: `{ sink, vectors, seconds, vectors_per_s,
// raw_client_vectors_per_s, ratio }` (ratio = ours / raw). Pinecone runs against the contract server in a child process,
// so its request handling does not share this process's CPU, with the official SDK as the raw client.
// The raw baselines are the clients' documented bulk paths with the batching work done before the clock starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Pinecone } from '@pinecone-database/pinecone';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { ChromaClient } from 'chromadb';
import weaviate from 'weaviate-client';
import { createChromaSink } from '../connectors/sinks/chroma.ts';
import { createMilvusSink, MILVUS_BM25_INDEX, milvusCollectionName, milvusCollectionSchema } from '../connectors/sinks/milvus.ts';
import { createPineconeSink } from '../connectors/sinks/pinecone.ts';
import { toStored } from '../connectors/sinks/records.ts';
import type { Sink, SinkRecord } from '../connectors/sinks/sink.ts';
import { createWeaviateSink, weaviateClassName } from '../connectors/sinks/weaviate.ts';
import { loadStackConfig } from '../infra/config.ts';
import { startPineconeServer } from '../test/contract/pinecone-server.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    vectors: { type: 'string', default: '5000' },
    sinks: { type: 'string', default: 'chroma,weaviate,milvus,pinecone' },
    reps: { type: 'string', default: '3' },
    /** Internal: run only the Pinecone contract server and print its URL. */
    'serve-pinecone': { type: 'boolean' },
  },
});
const DIMS = 384;
const PINECONE_KEY = 'pcsk-bench';

/** N records with normalised pseudo-random vectors and about 1,000 characters of text (a 240-token chunk). */
function records(n: number): SinkRecord[] {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const words = 'the retry policy of each activity bounds attempts while workers heartbeat progress to temporal servers'.split(
    ' ',
  );
  return Array.from({ length: n }, (_, i) => {
    const vector = new Float32Array(DIMS);
    let norm = 0;
    for (let d = 0; d < DIMS; d++) norm += (vector[d] = rnd() * 2 - 1) ** 2;
    for (let d = 0; d < DIMS; d++) vector[d] = vector[d]! / Math.sqrt(norm);
    let text = '';
    while (text.length < 1000) text += `${words[Math.floor(rnd() * words.length)]} `;
    const sourceUri = `s3://bench/docs/doc-${Math.floor(i / 20)}.md`;
    return {
      id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      vector,
      text,
      metadata: {
        tenant: 'bench',
        sourceUri,
        chunkIndex: i % 20,
        start: (i % 20) * 1000,
        end: (i % 20) * 1000 + 999,
        contentHash: `sha256:${i.toString(16).padStart(64, '0')}`,
        pipelineVersion: 'bench-v1',
      },
    };
  });
}

/** One way of writing the records into a fresh collection: `prepare` is untimed, `write` is timed. */
interface Writer {
  prepare(name: string): Promise<void>;
  write(name: string): Promise<void>;
  count(name: string): Promise<number>;
  drop(name: string): Promise<void>;
}

interface Contender {
  ours: Writer;
  raw: Writer;
  close(): Promise<void>;
}

function ourWriter(sink: Sink, recs: SinkRecord[]): Writer {
  return {
    prepare: (name) => sink.ensureIndex({ name, dims: DIMS, metric: 'cosine' }),
    write: (name) => sink.upsert(name, recs),
    count: (name) => sink.count(name),
    drop: (name) => sink.dropIndex(name),
  };
}

function chunks<T>(xs: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));
}

async function chroma(recs: SinkRecord[]): Promise<Contender> {
  const stack = loadStackConfig();
  const server = { host: '127.0.0.1', port: stack.ports.chroma, ssl: false };
  const client = new ChromaClient(server);
  const max = await client.getMaxBatchSize();
  const pieces = chunks(recs, max).map((b) => ({
    ids: b.map((r) => r.id),
    embeddings: b.map((r) => Array.from(r.vector)),
    documents: b.map((r) => r.text),
    metadatas: b.map((r) => ({ ...toStored(r.metadata) })),
  }));
  const sink = createChromaSink(server);
  return {
    ours: ourWriter(sink, recs),
    raw: {
      prepare: async (name) => {
        await client.createCollection({ name, embeddingFunction: null, configuration: { hnsw: { space: 'cosine' } } });
      },
      write: async (name) => {
        const col = await client.getCollection({ name });
        for (const p of pieces) await col.add(p);
      },
      count: async (name) => (await client.getCollection({ name })).count(),
      drop: (name) => client.deleteCollection({ name }),
    },
    close: () => sink.close(),
  };
}

async function weaviateContender(recs: SinkRecord[]): Promise<Contender> {
  const stack = loadStackConfig();
  const server = { host: '127.0.0.1', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc };
  const client = await weaviate.connectToLocal(server);
  const objects = recs.map((r) => ({
    id: r.id,
    properties: { text: r.text, ...toStored(r.metadata) },
    vectors: Array.from(r.vector),
  }));
  const sink = createWeaviateSink(server);
  const keyword = { dataType: 'text' as const, tokenization: 'field' as const, indexSearchable: false };
  return {
    ours: ourWriter(sink, recs),
    raw: {
      prepare: async (name) => {
        await client.collections.create({
          name: weaviateClassName(name),
          vectorizers: weaviate.configure.vectors.selfProvided({
            vectorIndexConfig: weaviate.configure.vectorIndex.hnsw({ distanceMetric: 'cosine' }),
          }),
          properties: [
            { name: 'text', dataType: 'text' },
            ...['tenant', 'source_uri', 'content_hash', 'pipeline_version', 'heading_path'].map((p) => ({ name: p, ...keyword })),
            ...['chunk_index', 'start', 'end'].map((p) => ({ name: p, dataType: 'int' as const })),
          ],
        });
      },
      write: async (name) => {
        const col = client.collections.use(weaviateClassName(name));
        for (const batch of chunks(objects, 1000)) {
          const res = await col.data.insertMany(batch);
          if (res.hasErrors) throw new Error(`raw insertMany: ${Object.values(res.errors)[0]?.message}`);
        }
      },
      count: async (name) => (await client.collections.use(weaviateClassName(name)).aggregate.overAll()).totalCount,
      drop: (name) => client.collections.delete(weaviateClassName(name)),
    },
    close: async () => {
      await sink.close();
      await client.close();
    },
  };
}

async function milvus(recs: SinkRecord[]): Promise<Contender> {
  const stack = loadStackConfig();
  const address = `127.0.0.1:${stack.ports.milvus}`;
  const client = new MilvusClient({ address, logLevel: 'error', telemetry: { enabled: false } });
  const rows = recs.map((r) => ({ id: r.id, vector: Array.from(r.vector), text: r.text, ...toStored(r.metadata) }));
  const sink = createMilvusSink({ address });
  return {
    ours: ourWriter(sink, recs),
    raw: {
      prepare: async (name) => {
        const collection_name = milvusCollectionName(name);
        // The schema our sink makes (the BM25 function included), so both writers do the same work per row.
        await client.createCollection({ collection_name, ...milvusCollectionSchema(DIMS) });
        await client.createIndex({
          collection_name,
          field_name: 'vector',
          index_type: 'HNSW',
          metric_type: 'COSINE',
          params: { M: 16, efConstruction: 200 },
        });
        await client.createIndex({ collection_name, ...MILVUS_BM25_INDEX });
        await client.loadCollection({ collection_name });
      },
      write: async (name) => {
        for (const data of chunks(rows, 1000)) {
          const res = await client.insert({ collection_name: milvusCollectionName(name), data });
          if (res.status.error_code !== 'Success') throw new Error(`raw insert: ${res.status.reason}`);
        }
      },
      count: async (name) => {
        const res = await client.query({
          collection_name: milvusCollectionName(name),
          filter: '',
          output_fields: ['count(*)'],
          consistency_level: 'Strong' as never,
        });
        return Number(res.data[0]?.['count(*)'] ?? 0);
      },
      drop: async (name) => {
        await client.dropCollection({ collection_name: milvusCollectionName(name) });
      },
    },
    close: async () => {
      await sink.close();
      await client.closeConnection();
    },
  };
}

async function pinecone(recs: SinkRecord[]): Promise<Contender> {
  const child: ChildProcess = spawn(process.execPath, [import.meta.filename, '--serve-pinecone'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`pinecone contract server exited with ${code}`)));
  });
  const index = new Pinecone({ apiKey: PINECONE_KEY, maxRetries: 0 }).index({ host: url });
  // The raw client's records, in requests of at most 1,000 records and 2 MB, planned before the clock starts.
  const raw = recs.map((r) => ({
    id: r.id,
    values: Array.from(r.vector),
    metadata: { chunk_id: r.id, ...toStored(r.metadata), text: r.text },
  }));
  const requests: (typeof raw)[] = [];
  let batch: typeof raw = [];
  let bytes = 100;
  for (const rec of raw) {
    const size = Buffer.byteLength(JSON.stringify(rec)) + 1;
    if (batch.length === 1000 || bytes + size > 2_000_000) {
      requests.push(batch);
      batch = [];
      bytes = 100;
    }
    batch.push(rec);
    bytes += size;
  }
  requests.push(batch);
  const sink = createPineconeSink({ apiKey: PINECONE_KEY, indexHost: url });
  const stats = async (namespace: string) => (await index.describeIndexStats()).namespaces?.[namespace]?.recordCount ?? 0;
  return {
    ours: ourWriter(sink, recs),
    raw: {
      prepare: async () => undefined,
      write: async (name) => {
        for (const records of requests) await index.upsert({ records, namespace: `raw-${name}` });
      },
      count: (name) => stats(`raw-${name}`),
      drop: (name) => index.deleteAll({ namespace: `raw-${name}` }),
    },
    close: async () => {
      await sink.close();
      child.stdin!.end();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

const CONTENDERS: Record<string, (recs: SinkRecord[]) => Promise<Contender>> = {
  chroma,
  weaviate: weaviateContender,
  milvus,
  pinecone,
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Times one write of every record into a fresh collection, checks that all of them landed, and drops it. */
async function run(w: Writer, name: string, n: number): Promise<number> {
  await w.prepare(name);
  try {
    const t0 = performance.now();
    await w.write(name);
    const seconds = (performance.now() - t0) / 1000;
    const deadline = Date.now() + 30_000;
    let got = await w.count(name);
    while (got !== n && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      got = await w.count(name);
    }
    if (got !== n) throw new Error(`${name}: ${got} records stored, ${n} written`);
    return seconds;
  } finally {
    await w.drop(name);
  }
}

async function main(): Promise<void> {
  const n = Number(args.vectors);
  const reps = Number(args.reps);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(reps) || reps < 1)
    throw new Error('--vectors and --reps take positive integers');
  const recs = records(n);
  const tag = Date.now().toString(36);
  for (const kind of args.sinks.split(',')) {
    const make = CONTENDERS[kind];
    if (!make) throw new Error(`unknown sink ${kind}: use ${Object.keys(CONTENDERS).join(', ')}`);
    const c = await make(recs);
    const ours: number[] = [];
    const raw: number[] = [];
    try {
      for (let i = 0; i < reps; i++) {
        // Alternate which goes first, so neither always meets a warmer (or more loaded) server.
        const order = i % 2 === 0 ? (['ours', 'raw'] as const) : (['raw', 'ours'] as const);
        for (const who of order) {
          const seconds = await run(c[who], `bench${tag}${kind}${who}${i}`, n);
          (who === 'ours' ? ours : raw).push(seconds);
        }
      }
    } finally {
      await c.close();
    }
    const seconds = median(ours);
    const result = {
      sink: kind,
      vectors: n,
      seconds: Number(seconds.toFixed(3)),
      vectors_per_s: Math.round(n / seconds),
      raw_client_vectors_per_s: Math.round(n / median(raw)),
      ratio: Number((median(raw) / seconds).toFixed(3)),
    };
    if (args.json) console.log(JSON.stringify(result));
    else
      console.log(
        `${kind}: ${result.vectors_per_s} vectors/s through the sink, ${result.raw_client_vectors_per_s} through the raw client ` +
          `(ratio ${result.ratio}; medians of ${reps}; ours ${ours.map((s) => s.toFixed(2)).join('/')} s, raw ${raw.map((s) => s.toFixed(2)).join('/')} s)`,
      );
  }
}

if (args['serve-pinecone']) {
  const server = await startPineconeServer({ dimension: DIMS, apiKey: PINECONE_KEY });
  console.log(server.url);
  process.stdin.resume();
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
} else {
  await main();
}
