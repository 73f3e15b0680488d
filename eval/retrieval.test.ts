import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModel } from '../scripts/fetch-model.ts';
import { loadBeir } from './beir.ts';
import { runRetrievalEval } from './retrieval.ts';

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

  it('runs naive and late chunking on the bundled set and reports both', async () => {
    const results = await runRetrievalEval({
      dataset: MINI,
      chunkers: ['naive', 'late'],
      chunkSize: 48,
      chunkOverlap: 0,
      modelDir,
    });
    assert.deepEqual(
      results.map((r) => r.chunker),
      ['naive', 'late'],
    );
    for (const r of results) {
      assert.deepEqual(Object.keys(r), ['chunker', 'ndcg@10', 'recall@10', 'docs', 'queries', 'chunks']);
      assert.equal(r.docs, 32);
      assert.equal(r.queries, 38);
      assert.ok(r.chunks > r.docs, 'documents are split into several chunks');
      // Far above chance (about 0.1 for one relevant document in 32): the pipeline ranks by meaning.
      assert.ok(r['ndcg@10'] > 0.7 && r['ndcg@10'] <= 1, `${r.chunker} nDCG@10 ${r['ndcg@10']}`);
      assert.ok(r['recall@10'] > 0.8 && r['recall@10'] <= 1);
    }
    assert.equal(results[0]!.chunks, results[1]!.chunks, 'late chunking keeps the same boundaries');
    await assert.rejects(
      runRetrievalEval({ dataset: MINI, chunkers: ['nope'], chunkSize: 48, chunkOverlap: 0, modelDir }),
      /unknown chunker/,
    );
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
    assert.equal(typeof r['ndcg@10'], 'number');
    const bad = spawnSync(process.execPath, [resolve(import.meta.dirname, 'retrieval.ts')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--dataset DIR is required/);
  });
});
