// `ingest search` and the SDK's searcher on the real stack: hybrid (keyword + vector) search through Weaviate's own
// fusion and Milvus's (over its BM25 function), Pinecone's sparse-dense records (our BM25, against the contract server:
// Pinecone has no local server), a clear refusal from a sink whose database keeps no keyword index here
// (Chroma), and reranking of a sink's candidates with a local cross-encoder (onnxruntime running the lexical stand-in
// graph: no registry package ships cross-encoder weights, see test/contract/rerankers.test.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createLocalOnnxEmbedder } from '../../connectors/embedders/local-onnx.ts';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { openSearcher, type SearchResult } from '../../sdk/search.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { writeLexicalCrossEncoder } from '../contract/fakes/lexical-cross-encoder.ts';
import { startPineconeServer, type PineconeServer } from '../contract/pinecone-server.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

/** The fault code only one chunk names: a token dense vectors of a small model barely tell apart from others. */
const CODE = 'QX-7731';

const handbook = [
  'Workers retry failed activities with exponential backoff, and the ledger records each document hash.',
  'The embedding cache keeps vectors by model and chunk text, so unchanged chunks are never embedded twice.',
  `A pump that reports fault ${CODE} has lost prime; close the outlet valve and bleed the line before restarting.`,
  'Blue/green index versions let readers switch to a rebuilt index in one alias move, and back again.',
  'Schedules start periodic reindex runs; reconciliation repairs chunks a database lost.',
  'Each tenant sees only its own chunks: every query filters on the tenant property.',
];

describe('search: hybrid and reranked (CLI and SDK, real stack)', () => {
  let h: Harness;
  let specFile: string;
  let sinks: Map<string, Sink>;
  let pinecone: PineconeServer;
  const other = uniqueName('other');

  async function ingest(args: string[]): Promise<string> {
    const { stdout } = await run(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, ...args], {
      cwd: root,
      env: cliEnv(),
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  }
  const search = async (args: string[]) => JSON.parse(await ingest(['search', ...args, '--json'])) as SearchResult;

  before(async () => {
    const rerankerDir = mkdtempSync(join(tmpdir(), 'ragline-search-ce-'));
    await writeLexicalCrossEncoder(rerankerDir, join(await ensureModel(), 'tokenizer.json'), 256);
    pinecone = await startPineconeServer({ dimension: 384, apiKey: 'pcsk-search-e2e', metric: 'dotproduct' });
    h = new Harness({
      sinks: [
        { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
        { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
        { kind: 'milvus', name: 'milvus', address: `127.0.0.1:${stack.ports.milvus}` },
        {
          kind: 'pinecone',
          name: 'pinecone',
          apiKey: 'pcsk-search-e2e',
          indexHost: pinecone.url,
          metric: 'dotproduct',
          sparse: { kind: 'bm25' },
        },
      ],
      search: { reranker: { provider: 'local-onnx', modelDir: rerankerDir }, candidates: 20 },
    });
    await h.start();
    sinks = await createSinks(h.spec);
    // One chunk a paragraph.
    for (const [i, p] of handbook.entries()) await h.put(`handbook/p${i}.md`, p);
    const summary = await h.ingestAll('handbook/');
    assert.equal(summary.ingested, handbook.length);
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    // Another tenant's chunk naming the same code, written straight into the same Weaviate index.
    const weaviate = sinks.get('weaviate')!;
    const embedder = await createLocalOnnxEmbedder({ modelDir: await ensureModel() });
    const [vector] = await embedder.embedDocuments([`Fault ${CODE} again.`]);
    await embedder.close();
    const uri = `s3://${h.bucket}/elsewhere.md`;
    await weaviate.upsert(h.index, [
      {
        id: randomUUID(),
        vector: vector!,
        text: `Fault ${CODE} in the other tenant's plant.`,
        metadata: {
          tenant: other,
          sourceUri: uri,
          chunkIndex: 0,
          start: 0,
          end: 40,
          contentHash: 'x',
          pipelineVersion: String(h.spec.version),
        },
      },
    ]);
  });
  after(async () => {
    await Promise.all([...(sinks?.values() ?? [])].map((s) => s.close()));
    await h?.stop();
    await pinecone?.close();
  });

  it('hybrid on Weaviate: the keyword half finds the one chunk naming the code; alpha 1 is the vector search', async () => {
    const keyword = await search([CODE, '--hybrid', '--alpha', '0', '--sink', 'weaviate', '-k', '3']);
    assert.equal(keyword.mode, 'hybrid');
    assert.ok(keyword.hits.length >= 1);
    assert.ok(keyword.hits[0]!.text.includes(CODE), `keyword only: ${JSON.stringify(keyword.hits[0])}`);
    const fused = await search([`what does ${CODE} mean`, '--hybrid', '--sink', 'weaviate', '-k', '3']);
    assert.ok(fused.hits[0]!.text.includes(CODE), `alpha 0.5, rrf: ${fused.hits.map((x) => x.text).join(' | ')}`);
    const relative = await search([CODE, '--hybrid', '--fusion', 'relative-score', '--alpha', '0.3', '--sink', 'weaviate']);
    assert.ok(relative.hits[0]!.text.includes(CODE));
    for (const r of [keyword, fused, relative]) {
      for (const hit of r.hits) assert.equal(hit.metadata.tenant, h.spec.tenant, "never the other tenant's chunk");
      r.hits.forEach((x, i) => assert.equal(x.retrievalRank, i + 1));
    }
    // alpha 1 weighs only the vector half: the same chunks, in the same order, as the plain vector search.
    const vectorOnly = await search(['how are failed activities retried', '--hybrid', '--alpha', '1', '--sink', 'weaviate']);
    const plain = await search(['how are failed activities retried', '--sink', 'weaviate']);
    assert.equal(plain.mode, 'vector');
    assert.deepEqual(
      vectorOnly.hits.map((x) => x.id),
      plain.hits.map((x) => x.id),
    );
  });

  it('hybrid on Milvus: its BM25 function finds the one chunk naming the code, fused by Milvus', async () => {
    const keyword = await search([CODE, '--hybrid', '--alpha', '0', '--sink', 'milvus', '-k', '3']);
    assert.equal(keyword.mode, 'hybrid');
    assert.deepEqual(
      keyword.hits.map((x) => x.text.includes(CODE)),
      [true],
      'keyword only: the one chunk with a query word',
    );
    const fused = await search([`what does ${CODE} mean`, '--hybrid', '--sink', 'milvus', '-k', '3']);
    assert.ok(fused.hits[0]!.text.includes(CODE), `alpha 0.5, rrf: ${fused.hits.map((x) => x.text).join(' | ')}`);
    const relative = await search([CODE, '--hybrid', '--fusion', 'relative-score', '--alpha', '0.3', '--sink', 'milvus']);
    assert.ok(relative.hits[0]!.text.includes(CODE));
    // (Tenant isolation of Milvus's hybrid search: test/contract/milvus-hybrid.test.ts.)
    const vectorOnly = await search(['how are failed activities retried', '--hybrid', '--alpha', '1', '--sink', 'milvus']);
    const plain = await search(['how are failed activities retried', '--sink', 'milvus']);
    assert.deepEqual(
      vectorOnly.hits.map((x) => x.id),
      plain.hits.map((x) => x.id),
    );
  });

  it('hybrid on Pinecone: sparse-dense records with our BM25 (statistics beside the ledger), fused three ways', async () => {
    const keyword = await search([CODE, '--hybrid', '--alpha', '0', '--sink', 'pinecone', '-k', '3']);
    assert.equal(keyword.mode, 'hybrid');
    assert.deepEqual(
      keyword.hits.map((x) => x.text.includes(CODE)),
      [true],
      'keyword only: the one chunk with a query word',
    );
    for (const fusion of ['rrf', 'relative-score', 'convex']) {
      const fused = await search([`what does ${CODE} mean`, '--hybrid', '--fusion', fusion, '--sink', 'pinecone', '-k', '3']);
      assert.ok(fused.hits[0]!.text.includes(CODE), `${fusion}: ${fused.hits.map((x) => x.text).join(' | ')}`);
      for (const hit of fused.hits) assert.equal(hit.metadata.tenant, h.spec.tenant);
    }
    const vectorOnly = await search(['how are failed activities retried', '--hybrid', '--alpha', '1', '--sink', 'pinecone']);
    const plain = await search(['how are failed activities retried', '--sink', 'pinecone']);
    assert.deepEqual(
      vectorOnly.hits.map((x) => x.id),
      plain.hits.map((x) => x.id),
    );
    // The same chunks as the other sinks hold, ranked by the same cosine (unit vectors in the dotproduct index).
    const chroma = await search(['how are failed activities retried', '--sink', 'chroma']);
    assert.deepEqual(
      plain.hits.map((x) => x.id),
      chroma.hits.map((x) => x.id),
    );
    for (const [i, hit] of plain.hits.entries()) assert.ok(Math.abs(hit.score - chroma.hits[i]!.score) < 1e-3, hit.id);
    // Convex is Pinecone's fusion: the other sinks refuse it by name.
    await assert.rejects(
      ingest(['search', CODE, '--hybrid', '--fusion', 'convex', '--sink', 'weaviate']),
      /fuses by rrf or relative-score, not convex/,
    );
  });

  it('a sink without a keyword index refuses hybrid with a clear error, and searches plainly without it', async () => {
    const err = await ingest(['search', CODE, '--hybrid', '--sink', 'chroma']).then(
      () => assert.fail('chroma: hybrid should be refused'),
      (e: unknown) => e as { code: number; stderr: string },
    );
    assert.notEqual(err.code, 0);
    assert.match(err.stderr, /sink chroma \(chroma\) cannot do hybrid search/);
    const plain = await search([CODE, '--sink', 'chroma']);
    assert.equal(plain.hits.length, 5);
    await assert.rejects(
      ingest(['search', CODE, '--hybrid', '--alpha', '1.5', '--sink', 'weaviate']),
      /alpha must be in \[0, 1\]/,
    );
  });

  it('--rerank reorders the sink candidates with the cross-encoder and reports both scores', async () => {
    // A question the dense half ranks loosely; the lexical stand-in scores word overlap with the query.
    const r = await search(['pump fault outlet valve bleed line', '--rerank', '-k', '3', '--sink', 'chroma']);
    assert.match(r.reranker ?? '', /^local-onnx:/);
    assert.equal(r.hits.length, 3);
    assert.ok(r.hits[0]!.text.includes(CODE), JSON.stringify(r.hits.map((x) => x.text)));
    for (const hit of r.hits) {
      assert.equal(hit.score, hit.rerankScore);
      assert.ok(hit.retrievalRank >= 1 && hit.retrievalRank <= handbook.length);
      assert.equal(typeof hit.retrievalScore, 'number');
    }
    for (let i = 1; i < r.hits.length; i++) assert.ok(r.hits[i - 1]!.rerankScore! >= r.hits[i]!.rerankScore!);
    // Hybrid and rerank together, from the SDK.
    const searcher = await openSearcher(h.spec, { baseDir: h.dataDir });
    try {
      const both = await searcher.search(CODE, { hybrid: true, rerank: true, sink: 'weaviate', topK: 2, candidates: 6 });
      assert.equal(both.mode, 'hybrid');
      assert.equal(both.hits.length, 2);
      assert.ok(both.hits[0]!.text.includes(CODE));
      await assert.rejects(searcher.search('', {}), /the query is empty/);
    } finally {
      await searcher.close();
    }
  });

  it('--rerank without a reranker in the spec is refused, naming the spec field', async () => {
    const bare = join(h.dataDir, 'bare.json');
    writeFileSync(bare, JSON.stringify({ ...h.spec, search: undefined }));
    await assert.rejects(
      run(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', bare, 'search', CODE, '--rerank'], {
        cwd: root,
        env: cliEnv(),
      }),
      /search\.reranker/,
    );
  });
});
