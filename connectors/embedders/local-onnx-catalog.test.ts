import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { CatalogError } from './catalog.ts';
import { createLocalOnnxEmbedder, planBatches } from './local-onnx.ts';
import { MANIFEST_FILE } from './model-files.ts';

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

// The real MiniLM weights under another catalog name: e5-small-v2 has the same width and pooling, so the folder
// passes the catalog's checks and shows that the embedder formats through the catalog (`query: ` / `passage: `).
describe('local-onnx formats through the model catalog', () => {
  let modelDir: string;
  let scratch: string;

  /** A copy of the model folder whose manifest claims to be `hfId`, with `patch` applied. */
  async function posingAs(name: string, hfId: string, patch: Record<string, unknown> = {}): Promise<string> {
    const dir = join(scratch, name);
    await cp(modelDir, dir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify({ ...manifest, name, hfId, ...patch }));
    return dir;
  }

  before(async () => {
    modelDir = await ensureModel();
    scratch = await mkdtemp(join(tmpdir(), 'ragline-catalog-model-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('adds the catalog prefixes on each side and versions the identity by them', async () => {
    const plain = await createLocalOnnxEmbedder({ modelDir, threads: 1 });
    const e5 = await createLocalOnnxEmbedder({ modelDir: await posingAs('e5-pose', 'intfloat/e5-small-v2'), threads: 1 });
    try {
      const text = 'how do retries work?';
      const [asQuery, asPassage] = await plain.embedDocuments([`query: ${text}`, `passage: ${text}`]);
      assert.ok(maxDiff(await e5.embedQuery(text), asQuery!) < 1e-6);
      assert.ok(maxDiff((await e5.embedDocuments([text]))[0]!, asPassage!) < 1e-6);
      assert.match(e5.identity, /^local-onnx:e5-pose:384:p[0-9a-f]{8}$/);
      assert.notEqual(e5.identity.split(':')[3], plain.identity.split(':')[3]);
    } finally {
      await plain.close();
      await e5.close();
    }
  });

  it('takes an instruction for instruction models and refuses one for models without', async () => {
    await assert.rejects(
      createLocalOnnxEmbedder({ modelDir: await posingAs('e5-task', 'intfloat/e5-small-v2'), queryTask: 'Find code' }),
      (err: unknown) => err instanceof CatalogError && err.reason === 'UnsupportedTask',
    );
    await assert.rejects(
      createLocalOnnxEmbedder({ modelDir, documentTask: 'Find code' }),
      (err: unknown) => err instanceof CatalogError && err.reason === 'UnsupportedTask',
    );
  });

  it('refuses a folder that contradicts its catalog entry', async () => {
    // bge-small-en-v1.5 pools CLS; these weights are configured for mean pooling.
    const bge = await posingAs('bge-pose', 'BAAI/bge-small-en-v1.5');
    await assert.rejects(createLocalOnnxEmbedder({ modelDir: bge }), (err: unknown) => {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.type, FailureType.InvalidInput);
      assert.match(err.message, /pooling mean, catalog cls/);
      return true;
    });
    const wrongPrefix = await posingAs('e5-prefix', 'intfloat/e5-small-v2', { queryPrefix: 'Query: ' });
    await assert.rejects(createLocalOnnxEmbedder({ modelDir: wrongPrefix }), /query prefix "Query: ", catalog "query: "/);
    // A 7B decoder with last-token pooling cannot run here, whatever the folder says.
    const qwen = await posingAs('qwen-pose', 'Qwen/Qwen3-Embedding-0.6B', { dims: 1024 });
    await assert.rejects(createLocalOnnxEmbedder({ modelDir: qwen }), /does not list local-onnx/);
  });

  it('plans batches longest first within the padded-token budget', () => {
    assert.deepEqual(planBatches([3, 10, 5, 10, 1], 20), [
      { members: [1, 3], len: 10 },
      { members: [2, 0, 4], len: 5 },
    ]);
    assert.deepEqual(planBatches([50, 2], 20), [
      { members: [0], len: 50 },
      { members: [1], len: 2 },
    ]);
    assert.deepEqual(planBatches([], 20), []);
  });
});
