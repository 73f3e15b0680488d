import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { validatePipelineSpec } from '../../pipeline/spec.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { hostedEmbedderFor } from '../../workers/hosted-embedder.ts';
import { checkPoolServer, createPoolEmbedder, EmbedServerMismatchError, poolActivitySlots } from './pool.ts';
import { createTeiEmbedder } from './tei.ts';

const MODEL = 'sentence-transformers/all-MiniLM-L6-v2';

describe('pool embedder', () => {
  it('is one spec line without an address, with the TEI defaults', () => {
    const spec = validatePipelineSpec({
      name: 'p',
      version: 1,
      tenant: 't',
      chunker: { kind: 'recursive', chunkSize: 64, chunkOverlap: 8 },
      embedder: { kind: 'pool', model: MODEL, dims: 384 },
      sinks: [{ kind: 'chroma', name: 'chroma' }],
      blobStore: { kind: 'local-dir' },
      ledger: { kind: 'sqlite' },
    });
    assert.equal(spec.embedder.kind, 'pool');
    assert.ok(spec.embedder.kind === 'pool' && spec.embedder.maxInputs === 32 && spec.embedder.normalize);
    assert.equal('baseUrl' in spec.embedder, false);
  });

  it('has an identity that names the model, not the server (cache hits across servers)', () => {
    const a = createPoolEmbedder({ model: MODEL, dims: 384 }, 'http://gpu-1:8080');
    const b = createPoolEmbedder({ model: MODEL, dims: 384 }, 'http://10.0.0.7:9000');
    const other = createPoolEmbedder({ model: 'BAAI/bge-small-en-v1.5', dims: 384 }, 'http://gpu-1:8080');
    assert.equal(a.identity, b.identity);
    assert.notEqual(a.identity, other.identity);
    // The same vectors as a TEI embedder of the same model: one cache entry, whoever computed it.
    assert.equal(a.identity, createTeiEmbedder({ baseUrl: 'http://x:1', model: MODEL, dims: 384 }).identity);
    assert.doesNotMatch(a.identity, /gpu-1|8080/);
  });

  it('accepts a server that serves the model and refuses one that serves another', () => {
    checkPoolServer({ model_id: MODEL, hidden_size: 384 }, { model: MODEL, dims: 384 }, 'http://s');
    checkPoolServer({ model_id: MODEL }, { model: MODEL, dims: 384 }, 'http://s');
    assert.throws(
      () => checkPoolServer({ model_id: 'other/model' }, { model: MODEL, dims: 384 }, 'http://s'),
      (e: unknown) => e instanceof EmbedServerMismatchError && /serves other\/model/.test(e.message),
    );
    assert.throws(
      () => checkPoolServer({ model_id: MODEL, hidden_size: 768 }, { model: MODEL, dims: 384 }, 'http://s'),
      EmbedServerMismatchError,
    );
  });

  it("sizes embed concurrency to half the server's queue", () => {
    const spec = { maxInputs: 32, concurrency: 4 };
    // Our server on CPU (queue 4096 inputs) and on CUDA (16384).
    assert.equal(poolActivitySlots({ model_id: MODEL, max_concurrent_requests: 4096, max_client_batch_size: 32 }, spec), 16);
    assert.equal(poolActivitySlots({ model_id: MODEL, max_concurrent_requests: 16384, max_client_batch_size: 32 }, spec), 64);
    // A smaller client batch on the server means smaller requests.
    assert.equal(poolActivitySlots({ model_id: MODEL, max_concurrent_requests: 512, max_client_batch_size: 8 }, spec), 8);
    assert.equal(poolActivitySlots({ model_id: MODEL, max_concurrent_requests: 10 }, spec), 1);
    assert.equal(poolActivitySlots({ model_id: MODEL }, spec), 16);
  });

  it("takes the worker-side tokenizer's path relative to the spec's folder, and refuses a missing one at start", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ragline-pool-tok-'));
    try {
      mkdirSync(join(dir, 'tok'));
      copyFileSync(join(await ensureModel(), 'tokenizer.json'), join(dir, 'tok', 'tokenizer.json'));
      const spec = validatePipelineSpec({
        name: 'p',
        version: 1,
        tenant: 't',
        chunker: { kind: 'recursive', chunkSize: 64, chunkOverlap: 8 },
        embedder: { kind: 'pool', model: MODEL, dims: 384, tokenizer: 'tok' },
        sinks: [{ kind: 'chroma', name: 'chroma' }],
        blobStore: { kind: 'local-dir' },
        ledger: { kind: 'sqlite' },
      });
      assert.ok(spec.embedder.kind === 'pool');
      const at = (base: string) => (p: string) => resolve(base, p);
      const { embedder } = await hostedEmbedderFor(spec.embedder, spec.ledger, at(dir), {}, 'http://127.0.0.1:9');
      await embedder.close();
      await assert.rejects(
        hostedEmbedderFor(spec.embedder, spec.ledger, at(tmpdir()), {}, 'http://127.0.0.1:9'),
        /tei tokenizer: cannot load .*tok/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
