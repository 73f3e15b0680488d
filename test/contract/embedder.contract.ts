import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EmbedInputsError, type HostedEmbedder } from '../../connectors/embedders/hosted.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import type { FakeServer } from './fakes/server.ts';

// One behaviour suite for every hosted Embedder, written against the interface (plus `embedDocumentsSettled`). It
// runs against the local fakes and, when a key is set, against the real service. Cases that need the server to
// misbehave on demand (429, 503, 500) run only where the factory hands back a fake server.

export interface EmbedderUnderTest {
  embedder: HostedEmbedder;
  /** A text the service rejects on its own (e.g. over its token limit); the suite checks it is isolated. */
  badInput?: string;
  /** The fake behind the embedder, for request-log and fault-injection cases; absent for live services. */
  server?: FakeServer;
  cleanup(): Promise<void>;
}

export interface EmbedderFactoryOptions {
  /** Texts per request, set low so the suite's small inputs span several requests. */
  maxInputs?: number;
  /** How long one call waits out 429/503 before handing back to Temporal. */
  maxWaitMs?: number;
}

export type EmbedderFactory = (opts: EmbedderFactoryOptions) => Promise<EmbedderUnderTest>;

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

const DOCS = [
  'The cat sat on the warm mat by the kitchen door.',
  'Stock markets fell sharply after the interest rate decision.',
  'Heavy rain and strong wind are expected along the coast tomorrow.',
];

export function embedderContract(name: string, factory: EmbedderFactory): void {
  describe(`Embedder contract: ${name}`, () => {
    let ut: EmbedderUnderTest;
    before(async () => {
      ut = await factory({ maxInputs: 4 });
    });
    after(() => ut?.cleanup());

    it('returns one finite vector of `dims` per input, in input order', async () => {
      const texts = Array.from({ length: 10 }, (_, i) => `${DOCS[i % 3]} Variant ${i}.`);
      const all = await ut.embedder.embedDocuments(texts);
      assert.equal(all.length, texts.length);
      for (const v of all) {
        assert.equal(v.length, ut.embedder.dims);
        assert.ok(v.every(Number.isFinite));
      }
      // Each vector is the one its own text gets alone: batching and reordering lost nothing.
      for (const i of [0, 5, 9]) {
        const [alone] = await ut.embedder.embedDocuments([texts[i]!]);
        assert.ok(cosine(alone!, all[i]!) > 0.99, `input ${i} matches its solo embedding`);
      }
    });

    it('splits a call into requests within the input-count limit', async (t) => {
      if (!ut.server) return t.skip('live service: request sizes are not observable');
      const before = ut.server.log.length;
      await ut.embedder.embedDocuments(Array.from({ length: 9 }, (_, i) => `text number ${i}`));
      const reqs = ut.server.log.slice(before).filter((e) => e.status === 200);
      assert.equal(reqs.length, 3);
    });

    it('ranks the related document first for a query', async () => {
      const docs = await ut.embedder.embedDocuments(DOCS);
      const q = await ut.embedder.embedQuery('Where did the cat sit?');
      const scores = docs.map((d) => cosine(q, d));
      assert.equal(scores.indexOf(Math.max(...scores)), 0, `scores ${scores.map((s) => s.toFixed(3)).join(', ')}`);
    });

    it('embeds nothing for no input', async () => {
      assert.deepEqual(await ut.embedder.embedDocuments([]), []);
    });

    it('isolates an empty input: the others still get vectors', async () => {
      const texts = [DOCS[0]!, '  ', DOCS[1]!];
      const err = await ut.embedder.embedDocuments(texts).then(
        () => assert.fail('expected EmbedInputsError'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof EmbedInputsError);
      assert.equal(err.type, FailureType.InvalidInput);
      assert.equal(err.retryable, false);
      assert.deepEqual(
        err.failures.map((f) => f.index),
        [1],
      );
      assert.equal(err.vectors[0]?.length, ut.embedder.dims);
      assert.equal(err.vectors[2]?.length, ut.embedder.dims);
    });

    it('isolates an input the service rejects, by bisecting its batch', async (t) => {
      if (!ut.badInput) return t.skip('this provider cannot be made to reject one input');
      const texts = [DOCS[0]!, DOCS[1]!, ut.badInput, DOCS[2]!, 'one more', 'and the last'];
      const out = await ut.embedder.embedDocumentsSettled(texts);
      assert.deepEqual(
        out.map((o) => o.ok),
        [true, true, false, true, true, true],
      );
      const bad = out[2]!;
      assert.ok(!bad.ok && bad.error.type === FailureType.InvalidInput && !bad.error.retryable);
    });

    it('waits out 429 with Retry-After inside the call', async (t) => {
      if (!ut.server) return t.skip('live service: cannot inject 429');
      ut.server.failNext(2, { status: 429, retryAfter: '1', body: { error: { message: 'slow down' } } });
      const before = ut.server.log.length;
      const [v] = await ut.embedder.embedDocuments([DOCS[2]!]);
      assert.equal(v!.length, ut.embedder.dims);
      assert.deepEqual(
        ut.server.log.slice(before).map((e) => e.status),
        [429, 429, 200],
      );
    });

    it('hands a long Retry-After to Temporal as a retryable RateLimited carrying the delay', async (t) => {
      if (!ut.server) return t.skip('live service: cannot inject 429');
      const quick = await factory({ maxWaitMs: 0 });
      try {
        quick.server!.failNext(1, { status: 429, retryAfter: '30' });
        const err = await quick.embedder.embedQuery('anything').then(
          () => assert.fail('expected a rate limit'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ConnectorError);
        assert.equal(err.type, FailureType.RateLimited);
        assert.equal(err.retryable, true);
        assert.equal(err.retryAfterMs, 30_000);
      } finally {
        await quick.cleanup();
      }
    });

    it('maps a server error to a retryable Unavailable without retrying it itself', async (t) => {
      if (!ut.server) return t.skip('live service: cannot inject 500');
      ut.server.failNext(1, { status: 500, body: { error: 'boom' } });
      const before = ut.server.log.length;
      const err = await ut.embedder.embedQuery('anything').then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectorError && err.type === FailureType.Unavailable && err.retryable);
      assert.equal(ut.server.log.length - before, 1, 'one request: Temporal owns the retries');
    });

    it('has an identity naming the model and dims', () => {
      assert.match(ut.embedder.identity, new RegExp(`:${ut.embedder.dims}(:|$)`));
    });
  });
}
