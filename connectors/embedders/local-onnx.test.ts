import assert from 'node:assert/strict';
import { cp, mkdtemp, open, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from 'tokenizers';
import { ensureModel, ModelIntegrityError, verifyModelDir } from '../../scripts/fetch-model.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { createLocalOnnxEmbedder, type LocalOnnxEmbedder, loadTokenCounter } from './local-onnx.ts';
import { readManifest } from './model-files.ts';

const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float32Array): number => Math.sqrt(cosine(a, a));

function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst <= tol, `${what}: max component difference ${worst} > ${tol}`);
}

const MIXED = [
  'Short.',
  'A man is playing a guitar.',
  'The quick brown fox jumps over the lazy dog near the riverbank at dawn.',
  '',
  'Temporal workflows survive worker crashes because their history is replayed deterministically.',
  'naïve café résumé — accents and dashes',
  '中文字符 mixed with English words',
  'word '.repeat(400),
  'Vector databases index embeddings for approximate nearest neighbour search.',
  'ok',
  'Kafka topics are split into partitions, and each partition is an ordered, append-only log of records.',
  '1, 2, 3, 4, 5, 6, 7, 8, 9, 10',
  'The stock market fell sharply today.',
  'emoji 😀 and symbols ∑ ∫ √',
  'A much longer paragraph that goes on about chunking strategies, token budgets, overlap windows and the way a ' +
    'recursive splitter prefers paragraph breaks, then sentences, then words, so that chunks stay coherent.',
  'Someone plays an instrument.',
  'x',
  'Retries with exponential backoff and jitter avoid thundering herds.',
  '   ',
  'The end.',
];

describe('local-onnx embedder (all-MiniLM-L6-v2 int8)', () => {
  let modelDir: string;
  let embedder: LocalOnnxEmbedder;
  let reference: Tokenizer;

  before(async () => {
    modelDir = await ensureModel();
    embedder = await createLocalOnnxEmbedder({ modelDir });
    reference = Tokenizer.fromFile(join(modelDir, 'tokenizer.json'));
    reference.disableTruncation();
    reference.disablePadding();
  });
  after(async () => {
    await embedder?.close();
  });

  it('describes the model as its manifest does', async () => {
    const manifest = await readManifest(modelDir);
    assert.deepEqual(
      { dims: manifest.dims, maxTokens: manifest.maxTokens, pooling: manifest.pooling, normalize: manifest.normalize },
      { dims: 384, maxTokens: 256, pooling: 'mean', normalize: true },
    );
    assert.equal(embedder.dims, 384);
    assert.equal(embedder.maxTokens, 256);
    assert.equal(embedder.metric, 'cosine');
    assert.equal(embedder.identity, 'local-onnx:all-minilm-l6-v2-int8:384:pa6ca3cb4');
  });

  it('returns unit vectors of the model width', async () => {
    const vectors = await embedder.embedDocuments(['hello world', 'A man is playing a guitar.', 'x']);
    assert.equal(vectors.length, 3);
    for (const v of vectors) {
      assert.ok(v instanceof Float32Array);
      assert.equal(v.length, 384);
      assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
    }
    assert.deepEqual(await embedder.embedDocuments([]), []);
  });

  it('scores a paraphrase above an unrelated sentence', async () => {
    const [guitar, instrument, market] = await embedder.embedDocuments([
      'A man is playing a guitar.',
      'Someone plays an instrument.',
      'The stock market fell sharply today.',
    ]);
    const para = cosine(guitar!, instrument!);
    assert.ok(para > 0.5, `paraphrase cosine ${para}`);
    assert.ok(para > cosine(guitar!, market!) + 0.3, `paraphrase ${para} vs unrelated ${cosine(guitar!, market!)}`);
    assert.ok(para > cosine(instrument!, market!) + 0.3);
  });

  it('gives the same vectors whatever the batching', async () => {
    const together = await embedder.embedDocuments(MIXED);
    // A tiny token budget forces many batches of one or a few inputs each.
    const small = await createLocalOnnxEmbedder({ modelDir, maxBatchTokens: 64, threads: 1 });
    try {
      assert.equal(small.identity, embedder.identity);
      const packed = await small.embedDocuments(MIXED);
      for (let i = 0; i < MIXED.length; i++) {
        const [alone] = await embedder.embedDocuments([MIXED[i]!]);
        assertClose(together[i]!, alone!, 1e-4, `input ${i} batched vs alone`);
        assertClose(packed[i]!, alone!, 1e-4, `input ${i} small batches vs alone`);
      }
    } finally {
      await small.close();
    }
  });

  it('embeds a query as a document (the model has no prefixes)', async () => {
    const [doc] = await embedder.embedDocuments(['where is the nearest train station']);
    assertClose(await embedder.embedQuery('where is the nearest train station'), doc!, 1e-6, 'query vs document');
  });

  it('truncates input longer than the window instead of failing', async () => {
    const long = 'The pipeline ingests documents. '.repeat(200);
    assert.ok(embedder.countTokens(long) > 1000);
    const [a, b] = await embedder.embedDocuments([long, `${long} Completely different trailing words about volcanoes.`]);
    assert.ok(Math.abs(norm(a!) - 1) < 1e-5);
    // Everything past the 256-token window is cut, so the tails cannot change the vector.
    assertClose(a!, b!, 1e-6, 'texts that differ only past the window');
  });

  it('embeds empty and blank input as the special tokens alone', async () => {
    assert.equal(embedder.countTokens(''), 0);
    assert.equal(embedder.countTokens(' \n\t '), 0);
    const [empty, blank] = await embedder.embedDocuments(['', ' \n\t ']);
    assert.equal(empty!.length, 384);
    assert.ok(Math.abs(norm(empty!) - 1) < 1e-5);
    assertClose(empty!, blank!, 1e-6, 'empty vs blank');
    assertClose(await embedder.embedQuery(''), empty!, 1e-6, 'empty query');
  });

  it('counts tokens exactly as the tokenizer does, without special tokens or truncation', async () => {
    const samples = [
      ...MIXED,
      'Hello, World!',
      '[CLS] literal [SEP] markers [MASK][PAD]',
      'tab\tnew\nline\r\ncontrol\u0000\u200bchars',
      'Ωmega ΣΙΓΜΑ straße İstanbul',
      'https://example.com/path?q=1&b=2',
      'supercalifragilisticexpialidocious antidisestablishmentarianism',
      'y'.repeat(150),
      "don't won't they're",
      'Ｆｕｌｌｗｉｄｔｈ ｃｈａｒｓ and ﬁ ligatures',
      'The pipeline ingests documents. '.repeat(100),
    ];
    for (const text of samples) {
      const want = (await reference.encode(text, null, { addSpecialTokens: false })).getLength();
      assert.equal(embedder.countTokens(text), want, JSON.stringify(text.slice(0, 60)));
      assert.equal(embedder.tokenCounter.count(text), want);
    }
    assert.equal(embedder.tokenCounter.name, 'wordpiece:all-minilm-l6-v2-int8');
  });

  it('loads the token counter alone for processes that do not embed', async () => {
    const counter = await loadTokenCounter(modelDir);
    assert.equal(counter.name, embedder.tokenCounter.name);
    for (const text of MIXED) assert.equal(counter.count(text), embedder.countTokens(text));
  });

  it('refuses a folder without a model, and calls after close', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'ragline-no-model-'));
    try {
      await assert.rejects(createLocalOnnxEmbedder({ modelDir: empty }), (err: unknown) => {
        assert.ok(err instanceof ConnectorError);
        assert.equal(err.type, FailureType.NotFound);
        assert.match(err.message, /fetch-model/);
        return true;
      });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
    const closing = await createLocalOnnxEmbedder({ modelDir });
    await closing.close();
    await closing.close();
    await assert.rejects(closing.embedDocuments(['late']), /closed/);
  });
});

describe('fetch-model verification', () => {
  let modelDir: string;
  let copy: string;
  let scratch: string;

  before(async () => {
    modelDir = await ensureModel();
    scratch = await mkdtemp(join(tmpdir(), 'ragline-model-copy-'));
    copy = join(scratch, 'model');
    await cp(modelDir, copy, { recursive: true });
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('accepts an intact folder without fetching anything', async () => {
    await verifyModelDir(copy);
    // A python that does not exist proves the complete folder is returned without running pip.
    assert.equal(await ensureModel({ dir: copy, python: '/nonexistent/python3', verify: true }), copy);
  });

  it('rejects a tampered, a truncated and a missing file, naming each', async () => {
    const fh = await open(join(copy, 'model.onnx'), 'r+');
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, 4096);
    byte[0] = byte[0]! ^ 0xff;
    await fh.write(byte, 0, 1, 4096);
    await fh.close();
    await assert.rejects(verifyModelDir(copy), (err: unknown) => {
      assert.ok(err instanceof ModelIntegrityError);
      assert.match(err.message, /model\.onnx: sha256 [0-9a-f]{64}, expected 8199be6f/);
      return true;
    });

    await truncate(join(copy, 'tokenizer.json'), 100);
    await rm(join(copy, '1_Pooling', 'config.json'));
    await assert.rejects(verifyModelDir(copy), (err: unknown) => {
      assert.ok(err instanceof ModelIntegrityError);
      assert.match(err.message, /model\.onnx: sha256/);
      assert.match(err.message, /tokenizer\.json: 100 bytes, expected 466247/);
      assert.match(err.message, /1_Pooling\/config\.json: missing/);
      return true;
    });
  });

  it('does not accept a damaged folder as complete', async () => {
    // With a broken folder ensureModel must fetch again; the missing python makes that fetch fail visibly.
    await assert.rejects(ensureModel({ dir: copy, python: '/nonexistent/python3' }), /RAGLINE_PYTHON/);
  });
});
