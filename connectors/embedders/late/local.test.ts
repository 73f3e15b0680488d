import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureModel } from '../../../scripts/fetch-model.ts';
import { createRecursiveChunker } from '../../chunkers/recursive.ts';
import { ConnectorError } from '../../shared/errors.ts';
import { createLocalOnnxEmbedder, type LocalOnnxEmbedder } from '../local-onnx.ts';
import type { ChunkSpan, LateChunkEmbedder, TokenEmbeddingSource } from './late-chunking.ts';
import { createLateChunkEmbedder } from './late-chunking.ts';
import { createLocalTokenSource } from './local.ts';

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));
const cosine = (a: Float32Array, b: Float32Array): number => dot(a, b) / (norm(a) * norm(b));

const DOC =
  'Harrowmere is a small fishing town on the northern coast, founded by salt traders in 1412.\n\n' +
  'Each winter it floats paper lanterns down the river to mark the end of the herring season.\n\n' +
  'Its harbour café serves smørrebrød and 🐟 soup — the recipe is older than the town hall.';

async function chunksOf(text: string, size: number, counter: { name: string; count(t: string): number }): Promise<ChunkSpan[]> {
  const out: ChunkSpan[] = [];
  for await (const c of createRecursiveChunker({ chunkSize: size, chunkOverlap: 0 }, counter).chunk(
    (async function* () {
      yield text;
    })(),
  ))
    out.push({ start: c.start, end: c.end });
  return out;
}

describe('late chunking with the local model', () => {
  let modelDir: string;
  let plain: LocalOnnxEmbedder;
  let source: TokenEmbeddingSource;
  let late: LateChunkEmbedder;

  before(async () => {
    modelDir = await ensureModel();
    plain = await createLocalOnnxEmbedder({ modelDir });
    source = await createLocalTokenSource({ modelDir });
    late = createLateChunkEmbedder(source);
  });
  after(async () => {
    await plain?.close();
    await late?.close();
  });

  it('one chunk over the whole document equals the ordinary mean-pooled embedding', async () => {
    for (const text of [DOC, 'Short.', 'emoji 😀 and symbols ∑ ∫ √ — naïve café']) {
      const [ordinary] = await plain.embedDocuments([text]);
      const [one] = await late.embedChunks(text, [{ start: 0, end: text.length }]);
      const cos = cosine(ordinary!, one!);
      assert.ok(1 - cos < 1e-5, `cosine ${cos} for ${JSON.stringify(text.slice(0, 30))}`);
      assert.ok(Math.abs(norm(one!) - 1) < 1e-5);
    }
  });

  it('reports the ordinary embedder identity of the same folder inside its own', () => {
    assert.ok(late.identity.startsWith('late:v1:'));
    assert.ok(late.identity.endsWith(plain.identity), `${late.identity} vs ${plain.identity}`);
    assert.equal(late.dims, plain.dims);
  });

  it('multi-chunk vectors carry context: they differ from the naive ones and lean toward the document', async () => {
    const spans = await chunksOf(DOC, 24, plain.tokenCounter);
    assert.ok(spans.length >= 3, `expected several chunks, got ${spans.length}`);
    const lateVecs = await late.embedChunks(DOC, spans);
    const naive = await plain.embedDocuments(spans.map((s) => DOC.slice(s.start, s.end)));
    const [whole] = await plain.embedDocuments([DOC]);
    let closerToDoc = 0;
    for (let i = 0; i < spans.length; i++) {
      const c = cosine(lateVecs[i]!, naive[i]!);
      assert.ok(c < 0.999, `chunk ${i}: late and naive vectors are the same (cosine ${c})`);
      assert.ok(c > 0.3, `chunk ${i}: late vector unrelated to its chunk (cosine ${c})`);
      if (cosine(lateVecs[i]!, whole!) > cosine(naive[i]!, whole!)) closerToDoc++;
    }
    assert.equal(closerToDoc, spans.length, 'every late chunk vector is closer to the whole document than its naive one');
  });

  it('long documents go through macro windows; chunks straddling window edges still get their own vectors', async () => {
    const para = (i: number) =>
      `Section ${i}. The archive keeps ledgers of grain shipments, tide tables and letters from the lighthouse keepers. `;
    const text = Array.from({ length: 40 }, (_, i) => para(i)).join('\n\n');
    const tokens = (await source.tokenize(text)).ids.length;
    assert.ok(tokens > source.windowTokens * 3, `document of ${tokens} tokens`);
    const spans = await chunksOf(text, 48, plain.tokenCounter);
    const vecs = await late.embedChunks(text, spans);
    assert.equal(vecs.length, spans.length);
    for (const v of vecs) assert.ok(Math.abs(norm(v) - 1) < 1e-5);

    // Small windows: many more passes, chunks straddle window edges, and still each vector stays near its chunk.
    const small = createLateChunkEmbedder({ ...source, windowTokens: 64, close: async () => {} }, { overlapTokens: 16 });
    const smallVecs = await small.embedChunks(text, spans);
    const naive = await plain.embedDocuments(spans.map((s) => text.slice(s.start, s.end)));
    for (let i = 0; i < spans.length; i++) {
      assert.ok(cosine(smallVecs[i]!, naive[i]!) > 0.5, `chunk ${i} in small windows`);
      assert.ok(cosine(smallVecs[i]!, vecs[i]!) > 0.7, `chunk ${i}: window size changed the vector too much`);
    }
    assert.notEqual(small.identity, late.identity);
  });

  it('a document that fits the window takes one pass: the macro-window path is not taken', async () => {
    const calls: number[][][] = [];
    const spy: TokenEmbeddingSource = {
      ...source,
      embedTokens: (seqs) => (calls.push(seqs), source.embedTokens(seqs)),
      close: async () => {},
    };
    const spans = await chunksOf(DOC, 24, plain.tokenCounter);
    const a = await createLateChunkEmbedder(spy).embedChunks(DOC, spans);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.length, 1);
    const b = await late.embedChunks(DOC, spans);
    a.forEach((v, i) => assert.ok(1 - cosine(v, b[i]!) < 1e-6));
  });

  it('refuses spans outside the text as bad input', async () => {
    await assert.rejects(
      late.embedChunks('abc', [{ start: 0, end: 4 }]),
      (e: unknown) => e instanceof ConnectorError && !e.retryable,
    );
    await assert.rejects(late.embedChunks('abc', [{ start: 2, end: 2 }]), ConnectorError);
    assert.deepEqual(await late.embedChunks('abc', []), []);
  });
});
