import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLateChunkEmbedder } from '../../connectors/embedders/late/late-chunking.ts';
import { createLocalTokenSource } from '../../connectors/embedders/late/local.ts';
import { createTeiLateChunkEmbedder, createTeiTokenSource } from '../../connectors/embedders/late/tei.ts';
import { createLocalOnnxEmbedder } from '../../connectors/embedders/local-onnx.ts';
import { createOpenAICompatibleEmbedder } from '../../connectors/embedders/openai-compatible.ts';
import { createTeiEmbedder } from '../../connectors/embedders/tei.ts';
import { createLocalOnnxReranker } from '../../connectors/rerankers/local-onnx.ts';
import { createTeiReranker } from '../../connectors/rerankers/tei.ts';
import { loadStackConfig } from '../../infra/config.ts';
import {
  EMBED_SERVER_DIR,
  type EmbedServerProcess,
  installEmbedServerPython,
  startEmbedServer,
} from '../../infra/services/embed-server.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { embedderContract, type EmbedderFactoryOptions } from './embedder.contract.ts';
import type { HostedEmbedder } from '../../connectors/embedders/hosted.ts';
import { writeLexicalCrossEncoder } from './fakes/lexical-cross-encoder.ts';
import type { Fault, FakeServer, LogEntry } from './fakes/server.ts';
import { rerankerContract } from './reranker.contract.ts';

// Our TEI-compatible embedding server (embed-server/) on the CPU with the real all-MiniLM-L6-v2 model through its
// onnx backend: the same Embedder and Reranker contracts the TEI fakes pass, the local ONNX embedder's vectors, the
// late-chunking routes, the OpenAI route, metrics and back-pressure. The reranker runs the stand-in cross-encoder
// graph of fakes/lexical-cross-encoder.ts (real onnxruntime and a real BERT tokenizer, no learned weights: no registry
// package ships cross-encoder weights), so it proves the server's pair encoding, batching and scoring, not model quality.

const MODEL = 'sentence-transformers/all-MiniLM-L6-v2';
const tooLong = (tokens: number): string => Array.from({ length: tokens }, (_, i) => `w${i}`).join(' ');

let python: Promise<string> | undefined;
function serverPython(): Promise<string> {
  python ??= installEmbedServerPython(loadStackConfig(), (line) => console.error(line));
  return python;
}

/**
 * A pass-through proxy in front of the real server that logs every request and answers injected faults, with the
 * fakes' FakeServer interface: the contract's request-count and 429/500 cases then run against the real server
 * instead of being skipped. Only the injected faults are made up; every other answer is the server's own.
 */
async function startFaultProxy(target: string): Promise<FakeServer> {
  const log: LogEntry[] = [];
  const faults: Fault[] = [];
  const read = async (req: IncomingMessage) => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  const server = createServer((req, res) => {
    void (async () => {
      const at = Date.now();
      const raw = await read(req);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
      const fault = faults.shift();
      if (fault) {
        log.push({ at, path, status: fault.status, body });
        res.writeHead(fault.status, {
          'content-type': 'application/json',
          ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}),
        });
        res.end(JSON.stringify(fault.body ?? { error: `injected ${fault.status}` }));
        return;
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      const upstream = await fetch(`${target}${req.url ?? '/'}`, {
        method: req.method ?? 'POST',
        headers,
        ...(raw.length > 0 ? { body: raw } : {}),
      });
      log.push({ at, path, status: upstream.status, body });
      const out: Record<string, string> = { 'content-type': upstream.headers.get('content-type') ?? 'application/json' };
      const retry = upstream.headers.get('retry-after');
      if (retry) out['retry-after'] = retry;
      res.writeHead(upstream.status, out);
      res.end(Buffer.from(await upstream.arrayBuffer()));
    })().catch((err: unknown) => {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    failNext(count, fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    maxArrivalsInWindow: () => {
      throw new Error('not needed against the real server');
    },
    statusCounts() {
      const out: Record<number, number> = {};
      for (const e of log) out[e.status] = (out[e.status] ?? 0) + 1;
      return out;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

async function post(url: string, body: unknown): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined, headers: res.headers };
}

// One embedding server for the whole file; the contracts talk to it through their own proxies.
let embedServer: Promise<EmbedServerProcess> | undefined;
function sharedServer(): Promise<EmbedServerProcess> {
  embedServer ??= (async () =>
    startEmbedServer({ python: await serverPython(), modelDir: await ensureModel(), args: ['--threads', '1'] }))();
  return embedServer;
}
after(async () => {
  await (await embedServer)?.close();
});

describe('our embed server: its Python unit tests', () => {
  it("pass (batcher, pooling, model folders) in the server's own venv", async () => {
    const res = spawnSync(await serverPython(), ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
      cwd: EMBED_SERVER_DIR,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /^Ran ([1-9]\d*) tests/m);
    assert.match(res.stderr, /^OK$/m);
  });
});

/** The embedder contract against the shared server, through a fault proxy; `make` builds the embedder on the proxy. */
function serverContract(
  name: string,
  make: (proxyUrl: string, o: EmbedderFactoryOptions) => Promise<HostedEmbedder> | HostedEmbedder,
): void {
  embedderContract(name, async (o) => {
    const proxy = await startFaultProxy((await sharedServer()).url);
    const embedder = await make(proxy.url, o);
    return {
      embedder,
      server: proxy,
      badInput: tooLong(300),
      cleanup: async () => {
        await embedder.close();
        await proxy.close();
      },
    };
  });
}

const teiOn = (url: string) => ({ baseUrl: url, model: MODEL, dims: 384, maxTokens: 256, truncate: false });
serverContract('our embed server /embed (all-MiniLM-L6-v2, onnx on CPU)', (url, o) => createTeiEmbedder({ ...teiOn(url), ...o }));
serverContract("our embed server /embed, token ids from the worker's tokenizer (all-MiniLM-L6-v2)", async (url, o) =>
  createTeiEmbedder({ ...teiOn(url), tokenizer: await ensureModel(), ...o }),
);
serverContract('our embed server /v1/embeddings (all-MiniLM-L6-v2, onnx on CPU)', (url, o) =>
  createOpenAICompatibleEmbedder({ provider: 'tei', baseUrl: `${url}/v1`, model: MODEL, dims: 384, maxTokens: 256, ...o }),
);

const TEXTS = [
  'The cat sat on the warm mat by the kitchen door.',
  'Stock markets fell sharply after the interest rate decision.',
  'Tromsø 🌌 lies north of the Arctic Circle; its café owners sell cloudberry jam — “multe” in Norwegian.',
  '中文 visitors often ask about the polar night; guides answer in English, Norsk and a little Japanese (日本語).',
  'x',
  'A much longer passage about permafrost. '.repeat(60),
  'Temporal runs every step as a retryable activity, and the pipeline writes vectors to several sinks.',
  'Heavy rain and strong wind are expected along the coast tomorrow.',
];

describe('our embed server against the project itself', () => {
  let server: EmbedServerProcess;
  before(async () => {
    server = await sharedServer();
  });

  it('gives the local ONNX embedder’s vectors (cosine >= 0.999 for every input)', async () => {
    const local = await createLocalOnnxEmbedder({ modelDir: await ensureModel(), threads: 1 });
    try {
      const expected = await local.embedDocuments(TEXTS);
      const got = await post(`${server.url}/embed`, { inputs: TEXTS, truncate: true });
      assert.equal(got.status, 200);
      const vectors = got.body as number[][];
      assert.equal(vectors.length, TEXTS.length);
      vectors.forEach((v, i) => {
        assert.equal(v.length, 384);
        assert.ok(Math.abs(dot(v, v) - 1) < 1e-4, `input ${i} is normalised`);
        const c = cosine(v, expected[i]!);
        assert.ok(c >= 0.999, `input ${i}: cosine ${c}`);
      });
      // The check can fail: a neighbour's vector is far from 0.999.
      assert.ok(cosine(vectors[0]!, expected[1]!) < 0.9);
      const raw = (await post(`${server.url}/embed`, { inputs: TEXTS[0], normalize: false })).body as number[][];
      assert.ok(Math.abs(Math.sqrt(dot(raw[0]!, raw[0]!)) - 1) > 0.01, 'normalize: false gives the raw pooled vector');
      assert.ok(cosine(raw[0]!, expected[0]!) >= 0.999);
    } finally {
      await local.close();
    }
  });

  it("takes token ids made by the worker's tokenizer: the vectors of the text path, and no text on the wire", async () => {
    const proxy = await startFaultProxy(server.url);
    const common = { baseUrl: proxy.url, model: MODEL, dims: 384, maxTokens: 256 };
    const viaText = createTeiEmbedder(common);
    const viaIds = createTeiEmbedder({ ...common, tokenizer: join(await ensureModel(), 'tokenizer.json') });
    try {
      const fromText = await viaText.embedDocuments(TEXTS);
      const before = proxy.log.length;
      const fromIds = await viaIds.embedDocuments(TEXTS);
      const sent = proxy.log.slice(before).flatMap((e) => (e.body as { inputs: unknown[] }).inputs);
      assert.equal(sent.length, TEXTS.length);
      for (const x of sent) assert.ok(Array.isArray(x) && x.every((id) => Number.isInteger(id)), 'token ids, not text');
      // The ids are the server's own (/tokenize adds the same special tokens), and a long input is cut to 256 with its
      // closing [SEP] kept, as the server cuts text.
      const served = (await post(`${server.url}/tokenize`, { inputs: TEXTS[2], add_special_tokens: true })).body as {
        id: number;
      }[][];
      assert.deepEqual(
        sent[2],
        served[0]!.map((t) => t.id),
      );
      const long = sent[5] as number[];
      assert.equal(long.length, 256);
      assert.equal(long.at(-1), 102, '[SEP] closes the cut input');
      fromIds.forEach((v, i) => {
        const c = cosine(v, fromText[i]!);
        assert.ok(c >= 0.99999, `input ${i}: cosine ${c}`);
      });
      assert.ok(cosine(fromIds[0]!, fromText[1]!) < 0.9, 'the check can fail');
      const q = 'where does the cat sit?';
      assert.ok(cosine(await viaIds.embedQuery(q), await viaText.embedQuery(q)) >= 0.99999);
      assert.equal(viaIds.identity, viaText.identity, 'one embedding cache for both');
    } finally {
      await Promise.all([viaText.close(), viaIds.close(), proxy.close()]);
    }
    assert.throws(
      () => createTeiEmbedder({ baseUrl: server.url, model: MODEL, dims: 384, tokenizer: '/nonexistent/tokenizer.json' }),
      /cannot load \/nonexistent\/tokenizer.json/,
    );
  });

  it('/tokenize gives TEI’s byte offsets, the local tokenizer’s spans once mapped', async () => {
    const text = TEXTS.slice(2, 4).join('\n\n');
    const local = await createLocalTokenSource({ modelDir: await ensureModel() });
    try {
      const remote = await createTeiTokenSource({ baseUrl: server.url, model: MODEL }).tokenize(text);
      const mine = await local.tokenize(text);
      assert.deepEqual(remote.ids, mine.ids);
      assert.deepEqual(remote.spans, mine.spans);
      assert.deepEqual(remote.special, mine.special);
      const tokens = (await post(`${server.url}/tokenize`, { inputs: 'café 🌌' })).body as {
        id: number;
        text: string;
        special: boolean;
        start: number | null;
        stop: number | null;
      }[][];
      const bytes = Buffer.from('café 🌌', 'utf8');
      assert.deepEqual(tokens[0]![0], { id: 101, text: '[CLS]', special: true, start: null, stop: null });
      for (const t of tokens[0]!.filter((x) => !x.special)) {
        assert.equal(bytes.subarray(t.start!, t.stop!).toString('utf8'), t.text);
      }
      assert.equal(tokens[0]!.at(-1)!.stop, null);
    } finally {
      await local.close();
    }
  });

  it('/embed_all gives token embeddings that late-chunk to the local backend’s vectors', async () => {
    const text = TEXTS.slice(0, 4).join('\n\n');
    const chunks = TEXTS.slice(0, 4).map((p) => ({ start: text.indexOf(p), end: text.indexOf(p) + p.length }));
    const source = await createLocalTokenSource({ modelDir: await ensureModel() });
    try {
      for (const windowTokens of [256, 32]) {
        const remote = createTeiLateChunkEmbedder({ baseUrl: server.url, model: MODEL, windowTokens, overlapTokens: 8 });
        const local = createLateChunkEmbedder({ ...source, windowTokens, close: async () => {} }, { overlapTokens: 8 });
        const a = await remote.embedChunks(text, chunks);
        const b = await local.embedChunks(text, chunks);
        a.forEach((v, i) => assert.ok(dot(v, b[i]!) >= 0.999, `window ${windowTokens}, chunk ${i}: ${dot(v, b[i]!)}`));
      }
      // Token ids are taken as given, and refused past the window unless truncation is asked for.
      const ids = Array.from({ length: 300 }, () => 2000);
      const refused = await post(`${server.url}/embed_all`, { inputs: [ids] });
      assert.equal(refused.status, 413);
      assert.equal((refused.body as { error_type: string }).error_type, 'Validation');
      const cut = (await post(`${server.url}/embed_all`, { inputs: [ids.slice(0, 5)], truncate: false })).body as number[][][];
      assert.equal(cut[0]!.length, 5);
      assert.equal(cut[0]![0]!.length, 384);
    } finally {
      await source.close();
    }
  });

  it('/v1/embeddings answers OpenAI’s shape, in floats or base64', async () => {
    const floats = (await post(`${server.url}/v1/embeddings`, { input: TEXTS.slice(0, 2), model: 'm' })).body as {
      object: string;
      data: { object: string; embedding: number[]; index: number }[];
      model: string;
      usage: { prompt_tokens: number; total_tokens: number };
    };
    assert.equal(floats.object, 'list');
    assert.equal(floats.model, 'm');
    assert.deepEqual(
      floats.data.map((d) => [d.object, d.index, d.embedding.length]),
      [
        ['embedding', 0, 384],
        ['embedding', 1, 384],
      ],
    );
    assert.ok(floats.usage.prompt_tokens > 10 && floats.usage.total_tokens === floats.usage.prompt_tokens);
    const b64 = (await post(`${server.url}/v1/embeddings`, { input: TEXTS[0], encoding_format: 'base64' })).body as {
      data: { embedding: string }[];
    };
    const buf = Buffer.from(b64.data[0]!.embedding, 'base64');
    const v = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    assert.ok(cosine(v, floats.data[0]!.embedding) > 0.99999);
  });

  it('answers TEI’s errors: empty inputs, a batch over the client limit, no sparse head, not a reranker', async () => {
    const empty = await post(`${server.url}/embed`, { inputs: [] });
    assert.deepEqual([empty.status, (empty.body as { error_type: string }).error_type], [400, 'Empty']);
    const big = await post(`${server.url}/embed`, { inputs: Array.from({ length: 33 }, () => 'x') });
    assert.deepEqual([big.status, (big.body as { error_type: string }).error_type], [413, 'Validation']);
    const sparse = await post(`${server.url}/embed_sparse`, { inputs: 'x' });
    assert.equal(sparse.status, 424);
    assert.match((sparse.body as { error: string }).error, /sparse head/);
    assert.equal((await post(`${server.url}/rerank`, { query: 'q', texts: ['d'] })).status, 424);
    const info = (await (await fetch(`${server.url}/info`)).json()) as Record<string, unknown>;
    assert.equal(info.model_id, MODEL);
    assert.equal(info.max_input_length, 256);
    assert.deepEqual(info.model_type, { embedding: { pooling: 'mean' } });
  });

  it('/metrics shows queue depth, batch tokens, padding ratio, batch size and request latency', async () => {
    await post(`${server.url}/embed`, { inputs: TEXTS.slice(0, 4) });
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    assert.equal(value('ragline_embed_queue_depth'), 0);
    assert.ok(value('ragline_embed_batch_tokens_count') >= 1);
    assert.ok(value('ragline_embed_batch_size_sum') >= 4);
    assert.ok(value('ragline_embed_padding_ratio_count') >= 1);
    assert.ok(value('ragline_embed_tokens_total') > 0);
    assert.match(text, /^ragline_embed_request_seconds_count\{route="\/embed",status="200"\} [1-9]/m);
  });
});

describe('our embed server under an overfull queue', () => {
  let server: EmbedServerProcess;
  before(async () => {
    server = await startEmbedServer({
      python: await serverPython(),
      modelDir: await ensureModel(),
      args: ['--threads', '1', '--max-queue', '4', '--max-batch-tokens', '512'],
    });
  });
  after(async () => {
    await server?.close();
  });

  it('answers 429 Overloaded with Retry-After once the queue is full, and serves the rest', async () => {
    const text = 'A passage long enough to keep the model busy for a moment. '.repeat(20);
    const replies = await Promise.all(
      Array.from({ length: 12 }, () => post(`${server.url}/embed`, { inputs: [text, text, text], truncate: true })),
    );
    const statuses = replies.map((r) => r.status);
    assert.ok(statuses.includes(429), `some requests are refused: ${statuses.join(' ')}`);
    assert.ok(statuses.includes(200), `some requests are served: ${statuses.join(' ')}`);
    assert.ok(
      statuses.every((s) => s === 200 || s === 429),
      statuses.join(' '),
    );
    for (const r of replies.filter((x) => x.status === 429)) {
      assert.deepEqual(r.body, { error: 'Model is overloaded', error_type: 'Overloaded' });
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    }
    for (const r of replies.filter((x) => x.status === 200)) assert.equal((r.body as number[][]).length, 3);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const refused = Number(/^ragline_embed_overloaded_total (\S+)$/m.exec(metrics)?.[1]);
    assert.equal(refused, statuses.filter((s) => s === 429).length);
    // Once drained, it takes work again.
    assert.equal((await post(`${server.url}/embed`, { inputs: [text], truncate: true })).status, 200);
  });
});

describe('our embed server as a cross-encoder (/rerank, stand-in graph)', () => {
  let dir: string;
  let server: EmbedServerProcess;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ragline-es-ce-'));
    await writeLexicalCrossEncoder(dir, join(await ensureModel(), 'tokenizer.json'), 128);
    server = await startEmbedServer({ python: await serverPython(), modelDir: dir, args: ['--threads', '1'] });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  rerankerContract('our embed server /rerank (stand-in cross-encoder graph)', async (o) => {
    const proxy = await startFaultProxy(server.url);
    const reranker = createTeiReranker({ baseUrl: proxy.url, model: 'lexical-overlap-stand-in', maxTokens: 128, ...o });
    return {
      reranker,
      server: proxy,
      cleanup: async () => {
        await reranker.close();
        await proxy.close();
      },
    };
  });

  it('scores each pair as the local ONNX cross-encoder does, raw and as probabilities', async () => {
    const local = await createLocalOnnxReranker({ modelDir: dir, threads: 1 });
    try {
      const query = 'How many people live in Berlin?';
      const docs = ['Berlin has many people.', 'Paris is in France.', 'How many live in Berlin, people ask.'];
      const expected = await local.rerank(query, docs);
      const probs = (await post(`${server.url}/rerank`, { query, texts: docs, return_text: true })).body as {
        index: number;
        score: number;
        text: string;
      }[];
      assert.deepEqual(
        probs.map((r) => r.index),
        expected.map((r) => r.index),
      );
      probs.forEach((r, k) => {
        assert.ok(Math.abs(r.score - expected[k]!.score) < 1e-6, `${r.score} vs ${expected[k]!.score}`);
        assert.equal(r.text, docs[r.index]);
      });
      const raw = (await post(`${server.url}/rerank`, { query, texts: docs, raw_scores: true })).body as {
        index: number;
        score: number;
      }[];
      // The stand-in's logit is the count of passage tokens found in the query, minus 1.5: a whole number and a half.
      for (const r of raw) assert.equal(r.score - Math.floor(r.score), 0.5);
      const logit = Math.log(probs[0]!.score / (1 - probs[0]!.score));
      assert.ok(Math.abs(raw[0]!.score - logit) < 1e-4, `the probability is the sigmoid of the raw logit ${logit}`);
    } finally {
      await local.close();
    }
  });
});
