import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import type { IndexSpec, Sink, SinkRecord } from '../../connectors/sinks/sink.ts';
import { eventually, uniqueName } from '../support/stack.ts';

// One behaviour suite for every Sink, written against the interface only. Each case uses its own index, named from
// lowercase letters and digits so every vector database accepts it; the factory's cleanup drops what the suite made
// (a factory can wrap ensureIndex to learn the names). Reads that follow writes poll, for sinks that index lazily.

export interface SinkUnderTest {
  sink: Sink;
  cleanup(): Promise<void>;
}

const DIMS = 8;

function vec(seed: number, dims = DIMS): Float32Array {
  // Distinct, well-spread directions: a one-hot axis plus a small seed-dependent tilt.
  const v = new Float32Array(dims);
  v[seed % dims] = 1;
  const tilt = (seed + 3) % dims;
  v[tilt] = v[tilt]! + 0.05 * (1 + Math.floor(seed / dims));
  return v;
}

function record(id: string, seed: number, tenant = 't1', sourceUri = 'doc://a', chunkIndex = seed): SinkRecord {
  return {
    id,
    vector: vec(seed),
    text: `chunk ${chunkIndex} of ${sourceUri} for ${tenant}`,
    metadata: {
      tenant,
      sourceUri,
      chunkIndex,
      start: chunkIndex * 100,
      end: chunkIndex * 100 + 99,
      contentHash: `sha256:${id}`,
      pipelineVersion: 'contract-v1',
    },
  };
}

/** Deterministic UUID-shaped ids, as the pipeline's chunk ids are UUIDs. */
function uuid(n: number, ns = 0): string {
  const hex = (n + ns * 1_000_000).toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${hex}`;
}

async function settles<T>(read: () => Promise<T>, expected: T, what: string): Promise<void> {
  await eventually(
    async () => {
      const got = await read();
      try {
        assert.deepEqual(got, expected);
        return true;
      } catch {
        return undefined;
      }
    },
    15_000,
    what,
  ).catch(async () => assert.deepEqual(await read(), expected, what));
}

/** An `assert.rejects` matcher: a ConnectorError of this type and retryability. */
export function isTyped(type: FailureType, retryable: boolean) {
  return (e: unknown): true => {
    assert.ok(e instanceof ConnectorError, `expected a ConnectorError, got ${String(e)}`);
    assert.equal(e.type, type, e.message);
    assert.equal(e.retryable, retryable);
    return true;
  };
}

async function rejectsTyped(p: Promise<unknown>, type: FailureType): Promise<void> {
  await assert.rejects(p, isTyped(type, false));
}

export function sinkContract(name: string, factory: () => Promise<SinkUnderTest>): void {
  describe(`Sink contract: ${name}`, () => {
    let sut: SinkUnderTest;
    let sink: Sink;
    const base = uniqueName('ct', '');
    let n = 0;
    const spec = (): IndexSpec => ({ name: `${base}i${n++}`, dims: DIMS, metric: 'cosine' });
    const fresh = async (): Promise<IndexSpec> => {
      const s = spec();
      await sink.ensureIndex(s);
      return s;
    };

    before(async () => {
      sut = await factory();
      sink = sut.sink;
    });
    after(async () => {
      await sut?.sink.close();
      await sut?.cleanup();
    });

    it('ensureIndex is idempotent', async () => {
      const s = await fresh();
      await sink.ensureIndex(s);
      await sink.ensureIndex({ ...s });
      assert.equal(await sink.count(s.name), 0);
    });

    it('upserts, counts, and searches nearest first with text and full metadata', async () => {
      const s = await fresh();
      const recs = [0, 1, 2, 3, 4].map((i) => record(uuid(i), i));
      await sink.upsert(s.name, recs);
      await settles(() => sink.count(s.name), 5, 'count after upsert');
      assert.equal(await sink.count(s.name, { tenant: 't1' }), 5);
      assert.equal(await sink.count(s.name, { tenant: 't1', sourceUri: 'doc://a' }), 5);
      assert.equal(await sink.count(s.name, { sourceUri: 'doc://none' }), 0);

      const query = vec(2);
      query[3] = 0.3; // nearest record 2 (same axis), then record 3 (the tilt's axis)
      const hits = await sink.search(s.name, query, { topK: 3 });
      assert.equal(hits.length, 3);
      assert.deepEqual(
        hits.slice(0, 2).map((h) => h.id),
        [recs[2]!.id, recs[3]!.id],
      );
      assert.equal(hits[0]!.text, recs[2]!.text);
      assert.deepEqual(hits[0]!.metadata, recs[2]!.metadata);
      for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1]!.score >= hits[i]!.score, 'scores descend');
      const exact = await sink.search(s.name, vec(4), { topK: 1 });
      assert.equal(exact[0]!.id, recs[4]!.id);
      assert.ok(Math.abs(exact[0]!.score - 1) < 1e-3, `cosine score of the same vector is 1, got ${exact[0]!.score}`);
    });

    it('leaves one copy when the same ids are upserted twice, with the second write winning', async () => {
      const s = await fresh();
      const recs = [0, 1, 2].map((i) => record(uuid(i), i));
      await sink.upsert(s.name, recs);
      await settles(() => sink.count(s.name), 3, 'count after first upsert');
      const again = recs.map((r) => ({ ...r, text: `${r.text} (v2)` }));
      await sink.upsert(s.name, again);
      await settles(async () => (await sink.search(s.name, vec(1), { topK: 1 }))[0]?.text, again[1]!.text, 'second write wins');
      assert.equal(await sink.count(s.name), 3);
    });

    it('deleteIds removes exactly those ids and ignores unknown ones', async () => {
      const s = await fresh();
      const recs = [0, 1, 2, 3, 4].map((i) => record(uuid(i), i));
      await sink.upsert(s.name, recs);
      await settles(() => sink.count(s.name), 5, 'count after upsert');
      await sink.deleteIds(s.name, [recs[1]!.id, recs[3]!.id, uuid(999)]);
      await settles(
        async () => (await sink.idsOfDocument(s.name, 't1', 'doc://a')).sort(),
        [0, 2, 4].map((i) => uuid(i)),
        'ids left',
      );
      await sink.deleteIds(s.name, [recs[1]!.id]);
      await sink.deleteIds(s.name, []);
      assert.equal(await sink.count(s.name), 3);
    });

    it("deleteDocument removes only that document's chunks of that tenant", async () => {
      const s = await fresh();
      const docA = [0, 1, 2].map((i) => record(uuid(i, 1), i, 't1', 'doc://a'));
      const docB = [0, 1].map((i) => record(uuid(i, 2), i + 3, 't1', 'doc://b'));
      const otherTenant = [0, 1].map((i) => record(uuid(i, 3), i + 5, 't2', 'doc://a'));
      await sink.upsert(s.name, [...docA, ...docB, ...otherTenant]);
      await settles(() => sink.count(s.name), 7, 'count after upsert');
      await sink.deleteDocument(s.name, 't1', 'doc://a');
      await settles(() => sink.count(s.name), 4, 'count after deleteDocument');
      assert.deepEqual(await sink.idsOfDocument(s.name, 't1', 'doc://a'), []);
      assert.deepEqual((await sink.idsOfDocument(s.name, 't1', 'doc://b')).sort(), docB.map((r) => r.id).sort());
      assert.deepEqual((await sink.idsOfDocument(s.name, 't2', 'doc://a')).sort(), otherTenant.map((r) => r.id).sort());
      assert.equal(await sink.count(s.name, { tenant: 't2' }), 2);
      await sink.deleteDocument(s.name, 't1', 'doc://a');
      await sink.deleteDocument(s.name, 't9', 'doc://never');
      assert.equal(await sink.count(s.name), 4);
    });

    it('idsOfDocument returns the exact set across many pages', async () => {
      const s = await fresh();
      const big = Array.from({ length: 250 }, (_, i) => record(uuid(i, 4), i, 't1', 'doc://big'));
      const small = Array.from({ length: 10 }, (_, i) => record(uuid(i, 5), i, 't1', 'doc://small'));
      await sink.upsert(s.name, [...big, ...small]);
      await settles(() => sink.count(s.name), 260, 'count after upsert');
      const ids = await sink.idsOfDocument(s.name, 't1', 'doc://big');
      assert.equal(ids.length, 250, 'no id twice, none missing');
      assert.deepEqual([...ids].sort(), big.map((r) => r.id).sort());
      assert.equal(await sink.count(s.name, { sourceUri: 'doc://big' }), 250);
      assert.deepEqual(await sink.idsOfDocument(s.name, 't2', 'doc://big'), []);
    });

    it('keeps tenants apart in search', async () => {
      const s = await fresh();
      const t1 = [0, 1, 2].map((i) => record(uuid(i, 6), i, 't1', 'doc://shared'));
      const t2 = [0, 1, 2].map((i) => record(uuid(i, 7), i, 't2', 'doc://shared'));
      await sink.upsert(s.name, [...t1, ...t2]);
      await settles(() => sink.count(s.name), 6, 'count after upsert');
      const hits1 = await sink.search(s.name, vec(1), { topK: 10, tenant: 't1' });
      assert.deepEqual(hits1.map((h) => h.id).sort(), t1.map((r) => r.id).sort());
      assert.ok(hits1.every((h) => h.metadata.tenant === 't1'));
      const hits2 = await sink.search(s.name, vec(1), { topK: 2, tenant: 't2' });
      assert.equal(hits2.length, 2);
      assert.equal(hits2[0]!.id, t2[1]!.id);
      assert.ok(hits2.every((h) => h.metadata.tenant === 't2'));
      assert.equal((await sink.search(s.name, vec(1), { topK: 10 })).length, 6);
    });

    it('rejects a wrong dimension, NaN and Infinity with a typed error and writes nothing of that call', async () => {
      const s = await fresh();
      await sink.upsert(s.name, [record(uuid(0), 0)]);
      await settles(() => sink.count(s.name), 1, 'count after upsert');
      const good = [1, 2, 3].map((i) => record(uuid(i), i));
      const short = { ...record(uuid(4), 4), vector: vec(4, DIMS - 1) };
      await rejectsTyped(sink.upsert(s.name, [...good, short]), FailureType.InvalidInput);
      const nan = record(uuid(5), 5);
      nan.vector[2] = Number.NaN;
      await rejectsTyped(sink.upsert(s.name, [...good, nan]), FailureType.InvalidInput);
      const inf = record(uuid(6), 6);
      inf.vector[7] = Number.POSITIVE_INFINITY;
      await rejectsTyped(sink.upsert(s.name, [inf, ...good]), FailureType.InvalidInput);
      await rejectsTyped(sink.search(s.name, vec(1, DIMS + 1), { topK: 1 }), FailureType.InvalidInput);
      assert.equal(await sink.count(s.name), 1);
      assert.deepEqual(await sink.idsOfDocument(s.name, 't1', 'doc://a'), [uuid(0)]);
    });

    it('rejects ensureIndex with another dimension on an existing index', async () => {
      const s = await fresh();
      await rejectsTyped(sink.ensureIndex({ ...s, dims: DIMS * 2 }), FailureType.SinkRejected);
      await sink.ensureIndex(s);
      await sink.upsert(s.name, [record(uuid(0), 0)]);
      await settles(() => sink.count(s.name), 1, 'the index still takes its own dimension');
    });
  });
}

/** Wraps a sink so a suite knows which indexes it created, and drops them with `drop` afterwards. */
export function trackIndexes(inner: Sink, drop: (names: Set<string>) => Promise<void>): { sink: Sink; cleanup(): Promise<void> } {
  const made = new Set<string>();
  const sink: Sink = Object.create(inner) as Sink;
  sink.ensureIndex = (spec) => {
    made.add(spec.name);
    return inner.ensureIndex(spec);
  };
  return { sink, cleanup: () => drop(made) };
}
