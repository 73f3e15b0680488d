import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModel } from '../scripts/fetch-model.ts';
import { loadBeir } from './beir.ts';
import { type EvalResult, runRetrievalEval } from './retrieval.ts';
import { writeLexicalCrossEncoder } from '../test/contract/fakes/lexical-cross-encoder.ts';

const MINI = resolve(import.meta.dirname, 'datasets/ragline-mini');

describe('retrieval evaluation harness', () => {
  let modelDir: string;
  let tmp: string;
  before(async () => {
    modelDir = await ensureModel();
    tmp = await mkdtemp(join(tmpdir(), 'ragline-beir-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('runs naive and late chunking with dense, BM25 and hybrid retrieval on the bundled set', async () => {
    const results = await runRetrievalEval({
      dataset: MINI,
      chunkers: ['naive', 'late'],
      modes: ['dense', 'bm25', 'hybrid'],
      chunkSize: 48,
      chunkOverlap: 0,
      modelDir,
    });
    assert.deepEqual(
      results.map((r) => `${r.chunker}/${r.mode}`),
      ['naive/dense', 'naive/bm25', 'naive/hybrid', 'late/dense', 'late/bm25', 'late/hybrid'],
    );
    for (const r of results) {
      assert.deepEqual(Object.keys(r), [
        'chunker',
        'mode',
        'docs',
        'chunks',
        'reranker',
        'ndcg@10',
        'recall@10',
        'recall@100',
        'queries',
        'seconds',
        'msPerQuery',
      ]);
      assert.equal(r.reranker, null);
      assert.equal(r.docs, 32);
      assert.equal(r.queries, 38);
      assert.ok(r.chunks > r.docs, 'documents are split into several chunks');
      // Far above chance (about 0.1 for one relevant document in 32): each mode ranks by meaning or by words.
      assert.ok(r['ndcg@10'] > 0.7 && r['ndcg@10'] <= 1, `${r.chunker}/${r.mode} nDCG@10 ${r['ndcg@10']}`);
      assert.ok(r['recall@10'] > 0.8 && r['recall@10'] <= r['recall@100'] && r['recall@100'] <= 1);
      assert.ok(r.seconds.queries >= 0 && r.msPerQuery >= 0);
    }
    const by = (name: string) => results.find((r) => `${r.chunker}/${r.mode}` === name)!;
    assert.equal(by('naive/dense').chunks, by('late/dense').chunks, 'late chunking keeps the same boundaries');
    assert.equal(by('naive/bm25')['ndcg@10'], by('late/bm25')['ndcg@10'], 'BM25 reads the same chunk texts');
    assert.equal(by('naive/bm25').seconds.index < by('naive/dense').seconds.index, true, 'no embedding for BM25');
    await assert.rejects(
      runRetrievalEval({ dataset: MINI, chunkers: ['nope'], chunkSize: 48, chunkOverlap: 0, modelDir }),
      /unknown chunker/,
    );
    await assert.rejects(
      runRetrievalEval({
        dataset: MINI,
        chunkers: ['naive'],
        modes: ['sparse' as 'bm25'],
        chunkSize: 48,
        chunkOverlap: 0,
        modelDir,
      }),
      /unknown mode/,
    );
  });

  it('reranks the top of each ranking on a subset of queries and reports the same subset without reranking', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ragline-eval-ce-'));
    try {
      await writeLexicalCrossEncoder(dir, join(modelDir, 'tokenizer.json'), 256);
      const results = await runRetrievalEval({
        dataset: MINI,
        chunkers: ['naive'],
        modes: ['dense'],
        chunkSize: 48,
        chunkOverlap: 0,
        modelDir,
        reranker: `onnx:${dir}`,
        rerankDepth: 10,
        rerankQueries: 12,
      });
      assert.equal(results.length, 2);
      const [plain, reranked] = results as [EvalResult, EvalResult];
      assert.equal(plain.reranker, null);
      assert.match(reranked.reranker!, /^local-onnx:/);
      assert.equal(reranked.queries, 12);
      assert.equal(reranked.base!.queries, 12);
      assert.ok(reranked.seconds.rerank! > 0);
      // Reranking only reorders the top 10: what the top 100 holds is the same.
      assert.equal(reranked['recall@100'], reranked.base!['recall@100']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads BEIR quirks: numeric ids, no qrels header, titles, and never returns the query’s own id', async () => {
    const dir = join(tmp, 'tiny');
    await mkdir(join(dir, 'qrels'), { recursive: true });
    await writeFile(
      join(dir, 'corpus.jsonl'),
      [
        { _id: 1, title: 'Tides', text: 'The moon pulls the oceans, raising tides twice a day.' },
        { _id: 'q2', title: '', text: 'How do tides work?' },
        { _id: 3, title: 'Bread', text: 'Sourdough rises thanks to wild yeast and lactic bacteria.' },
      ]
        .map((d) => JSON.stringify(d))
        .join('\n') + '\n',
    );
    await writeFile(
      join(dir, 'queries.jsonl'),
      JSON.stringify({ _id: 'q2', text: 'How do tides work?' }) + '\n' + JSON.stringify({ _id: 'q9', text: 'unjudged' }) + '\n',
    );
    await writeFile(join(dir, 'qrels', 'test.tsv'), 'q2\t1\t1\n');
    const ds = await loadBeir(dir);
    assert.deepEqual(
      ds.docs.map((d) => d.id),
      ['1', 'q2', '3'],
    );
    assert.equal(ds.docs[0]!.text, 'Tides\n\nThe moon pulls the oceans, raising tides twice a day.');
    assert.deepEqual([...ds.queries.keys()], ['q2'], 'only judged queries are evaluated');
    const [r] = await runRetrievalEval({ dataset: dir, chunkers: ['naive'], chunkSize: 32, chunkOverlap: 0, modelDir });
    // Document q2 repeats the query word for word; as in BEIR it is skipped, so document 1 ranks first.
    assert.equal(r!['ndcg@10'], 1);
    await assert.rejects(loadBeir(join(tmp, 'missing')), /corpus\.jsonl is missing/);
  });

  it('prints one JSON line per chunker from the command line', () => {
    const out = spawnSync(
      process.execPath,
      [
        resolve(import.meta.dirname, 'retrieval.ts'),
        '--dataset',
        MINI,
        '--json',
        '--chunkers',
        'naive',
        '--chunk-size',
        '128',
        '--model-dir',
        modelDir,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(out.status, 0, out.stderr);
    const lines = out.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const r = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(r.chunker, 'naive');
    assert.equal(r.mode, 'dense');
    assert.equal(typeof r['ndcg@10'], 'number');
    assert.equal(typeof r['recall@100'], 'number');
    const bad = spawnSync(process.execPath, [resolve(import.meta.dirname, 'retrieval.ts')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--dataset DIR is required/);
  });
});
