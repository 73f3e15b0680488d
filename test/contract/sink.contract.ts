import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import type { ChunkPage, IndexSpec, ScannedChunk, Sink, SinkRecord } from '../../connectors/sinks/sink.ts';
import { eventually, uniqueName } from '../support/stack.ts';

// One behaviour suite for every Sink, written against the interface only. Each case uses its own index, named from
// lowercase letters and digits so every vector database accepts it; the factory's cleanup drops what the suite made
// (a factory can wrap ensureIndex to learn the names, and setAlias to learn the aliases). Reads that follow writes
// poll, for sinks that index lazily or are eventually consistent.

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

/** UUIDs spread over the whole id space like the pipeline's chunk ids (sha256-based), unlike `uuid`'s shared prefix. */
function spreadUuid(n: number, ns = 0): string {
  const h = createHash('sha256').update(`${ns}/${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
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
      await sut?.cleanup();
      await sut?.sink.close();
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

    it('returns the heading path a record was stored with, and none for a record stored without', async () => {
      const s = await fresh();
      // Separators, quotes, brackets and non-ASCII inside headings must come back exactly.
      const path = ['Guide', 'Install > upgrade', 'Say "hi" [now], ü 😀'];
      const withPath = record(uuid(0), 0);
      withPath.metadata = { ...withPath.metadata, headingPath: path };
      const without = record(uuid(1), 1);
      await sink.upsert(s.name, [withPath, without]);
      await settles(() => sink.count(s.name), 2, 'count after upsert');
      const hit = async (seed: number) => (await sink.search(s.name, vec(seed), { topK: 1 }))[0];
      assert.deepEqual((await hit(0))?.metadata, withPath.metadata);
      const plain = await hit(1);
      assert.deepEqual(plain?.metadata, without.metadata);
      assert.equal('headingPath' in plain!.metadata, false, 'no headingPath key when none was stored');

      // A rewrite without the path clears it; one with a path sets it.
      await sink.upsert(s.name, [
        { ...withPath, metadata: without.metadata, id: withPath.id },
        { ...without, metadata: { ...without.metadata, headingPath: ['Only'] } },
      ]);
      await settles(async () => (await hit(1))?.metadata.headingPath, ['Only'], 'path set by the rewrite');
      await settles(async () => (await hit(0))?.metadata.headingPath, undefined, 'path cleared by the rewrite');
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

    it('document identity is exact: uris differing only by surrounding spaces or case are other documents', async () => {
      const s = await fresh();
      const uris = ['doc://spaced', 'doc://spaced ', ' doc://spaced', 'doc://Spaced'];
      const recs = uris.map((u, k) => record(uuid(0, 10 + k), k, 't1', u));
      await sink.upsert(s.name, recs);
      await settles(() => sink.count(s.name), 4, 'count after upsert');
      for (const [k, u] of uris.entries())
        assert.deepEqual(await sink.idsOfDocument(s.name, 't1', u), [recs[k]!.id], JSON.stringify(u));
      assert.equal(await sink.count(s.name, { sourceUri: 'doc://spaced ' }), 1);
      await sink.deleteDocument(s.name, 't1', 'doc://spaced ');
      await settles(() => sink.count(s.name), 3, 'count after deleteDocument');
      assert.deepEqual(await sink.idsOfDocument(s.name, 't1', 'doc://spaced'), [recs[0]!.id], 'the neighbour stays');
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

    describe('reconciliation reads (scanChunks, findIds)', () => {
      /** `count` chunks of one tenant spread over `docs` documents, with ids spread like the pipeline's. */
      const chunksOf = (tenant: string, ns: number, count: number, docs: number): SinkRecord[] =>
        Array.from({ length: count }, (_, i) => record(spreadUuid(i, ns), i, tenant, `doc://scan/${i % docs}`, i));
      const byId = (chunks: ScannedChunk[]) => [...chunks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const expected = (recs: SinkRecord[]) => byId(recs.map((r) => ({ id: r.id, sourceUri: r.metadata.sourceUri })));

      /** Every page of a scan; `each` runs after a page and returns how many of its chunks it deleted. */
      async function scanAll(
        index: string,
        tenant: string,
        limit: number,
        each: (page: ChunkPage) => Promise<number> = async () => 0,
      ): Promise<ScannedChunk[]> {
        const seen: ScannedChunk[] = [];
        let cursor: string | undefined;
        let deletedSince = 0;
        for (let pages = 0; ; pages++) {
          assert.ok(pages < 1000, 'the scan ends');
          const page = await sink.scanChunks(index, { tenant, limit, cursor, deletedSince });
          assert.ok(page.chunks.length <= limit, `a page of ${page.chunks.length} chunks exceeds the limit ${limit}`);
          seen.push(...page.chunks);
          deletedSince = await each(page);
          if (page.cursor === undefined) return seen;
          assert.equal(typeof page.cursor, 'string');
          cursor = page.cursor;
        }
      }

      /** Each chunk once (a scan may repeat a chunk, never skip one). */
      const distinct = (chunks: ScannedChunk[]) => byId([...new Map(chunks.map((c) => [c.id, c])).values()]);

      it('scanChunks pages through exactly one tenant, every chunk with its source uri, no page over the limit', async () => {
        const s = await fresh();
        const t1 = chunksOf('t1', 20, 230, 7);
        const t2 = chunksOf('t2', 21, 40, 3);
        await sink.upsert(s.name, [...t1, ...t2]);
        await settles(() => sink.count(s.name), 270, 'count after upsert');
        await settles(() => sink.count(s.name, { tenant: 't1' }), 230, 't1 count after upsert');
        await settles(async () => distinct(await scanAll(s.name, 't1', 50)), expected(t1), 'scan of t1');
        assert.deepEqual(distinct(await scanAll(s.name, 't2', 50)), expected(t2), 'scan of t2');
        assert.deepEqual(distinct(await scanAll(s.name, 't2', 7)), expected(t2), 'scan of t2, small pages');
        assert.deepEqual(await scanAll(s.name, 't9', 50), [], 'a tenant with no chunks');
        const empty = await fresh();
        assert.deepEqual(await scanAll(empty.name, 't1', 50), [], 'an empty index');
      });

      it('scanChunks skips no chunk when the caller deletes chunks of earlier pages during the scan', async () => {
        const s = await fresh();
        const t1 = chunksOf('t1', 22, 200, 5);
        const t2 = chunksOf('t2', 23, 30, 2);
        await sink.upsert(s.name, [...t1, ...t2]);
        await settles(() => sink.count(s.name, { tenant: 't1' }), 200, 't1 count after upsert');
        await settles(() => sink.count(s.name), 230, 'count after upsert');
        const deleted = new Set<string>();
        const seen = await scanAll(s.name, 't1', 30, async (page) => {
          // Every other chunk of the page, as a reconciler deletes the orphans it finds.
          const gone = page.chunks.filter((_, i) => i % 2 === 0).map((c) => c.id);
          await sink.deleteIds(s.name, gone);
          for (const id of gone) deleted.add(id);
          return gone.length;
        });
        assert.ok(deleted.size > 0);
        const kept = t1.filter((r) => !deleted.has(r.id));
        const seenIds = new Set(seen.map((c) => c.id));
        assert.deepEqual(
          kept.filter((r) => !seenIds.has(r.id)).map((r) => r.id),
          [],
          'every chunk never deleted was returned',
        );
        assert.ok(
          seen.every((c) => t1.some((r) => r.id === c.id)),
          'only chunks of the tenant',
        );
        await settles(async () => distinct(await scanAll(s.name, 't1', 30)), expected(kept), 'a second scan sees what is left');
      });

      it('findIds returns exactly the ids the index holds for that tenant, in batches for any number of ids', async () => {
        const s = await fresh();
        const t1 = chunksOf('t1', 24, 30, 4);
        const t2 = chunksOf('t2', 25, 10, 2);
        await sink.upsert(s.name, [...t1, ...t2]);
        await settles(() => sink.count(s.name), 40, 'count after upsert');
        const asChunk = (r: SinkRecord): ScannedChunk => ({ id: r.id, sourceUri: r.metadata.sourceUri });
        const never = Array.from({ length: 10 }, (_, i) => ({ id: spreadUuid(i, 26), sourceUri: `doc://scan/${i % 4}` }));
        const ids = (chunks: ScannedChunk[]) => sink.findIds(s.name, 't1', chunks).then((found) => [...found].sort());
        const want = t1.map((r) => r.id).sort();
        await settles(() => ids([...t2.map(asChunk), ...t1.map(asChunk), ...never, asChunk(t1[0]!)]), want, 'findIds of a mix');
        assert.deepEqual(
          await ids(t1.slice(0, 3).map(asChunk)),
          want.filter((id) => t1.slice(0, 3).some((r) => r.id === id)),
        );
        assert.deepEqual(await sink.findIds(s.name, 't2', never), []);
        assert.deepEqual(await sink.findIds(s.name, 't1', []), []);
        // 2,500 ids in one call, the present ones spread among them.
        const many = Array.from({ length: 2500 - 40 }, (_, i) => ({ id: spreadUuid(i, 27), sourceUri: `doc://scan/${i % 4}` }));
        for (const [k, r] of [...t1, ...t2].entries()) many.splice(k * 60, 0, asChunk(r));
        assert.equal(many.length, 2500);
        assert.deepEqual(await ids(many), want);
      });

      it('fails on a missing index as count does, and refuses a bad limit, cursor or deletedSince', async () => {
        const missing = `${base}missing${n++}`;
        const chunks = [{ id: uuid(0), sourceUri: 'doc://a' }];
        const countFailure = await sink.count(missing).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (countFailure === undefined) {
          // A sink whose count reads a missing index as empty reads it as empty here too.
          assert.deepEqual(await sink.scanChunks(missing, { tenant: 't1', limit: 10 }), { chunks: [] });
          assert.deepEqual(await sink.findIds(missing, 't1', chunks), []);
        } else {
          assert.ok(countFailure instanceof ConnectorError, String(countFailure));
          const same = isTyped(countFailure.type, countFailure.retryable);
          await assert.rejects(sink.scanChunks(missing, { tenant: 't1', limit: 10 }), same);
          await assert.rejects(sink.findIds(missing, 't1', chunks), same);
        }
        const s = await fresh();
        for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1_000_000_000]) {
          await rejectsTyped(sink.scanChunks(s.name, { tenant: 't1', limit }), FailureType.InvalidInput);
        }
        await rejectsTyped(
          sink.scanChunks(s.name, { tenant: 't1', limit: 10, cursor: 'not a cursor' }),
          FailureType.InvalidInput,
        );
        await rejectsTyped(sink.scanChunks(s.name, { tenant: 't1', limit: 10, deletedSince: -1 }), FailureType.InvalidInput);
        // Every sink serves pages of 500, the reconciler's.
        assert.deepEqual(await sink.scanChunks(s.name, { tenant: 't1', limit: 500 }), { chunks: [] });
      });
    });

    describe('index versions (aliases)', () => {
      const alias = () => `${base}a${n++}`;
      const resolves = (a: string, expected: string | undefined) => settles(() => sink.getAlias(a), expected, `alias ${a}`);
      /** An index holding one record whose text names the version, visible to reads. */
      const version = async (label: string): Promise<IndexSpec> => {
        const s = await fresh();
        await sink.upsert(s.name, [{ ...record(uuid(0), 0), text: label }, record(uuid(1), 1)]);
        await settles(() => sink.count(s.name), 2, `count of ${label}`);
        return s;
      };
      const searchThrough = async (a: string) => {
        const index = await sink.getAlias(a);
        assert.ok(index, `alias ${a} resolves`);
        return (await sink.search(index, vec(0), { topK: 1 }))[0]?.text;
      };

      it('hasIndex is true for a made index only: not before, not for an alias, not after a drop', async () => {
        const s = await fresh();
        const a = alias();
        assert.equal(await sink.hasIndex(`${s.name}x`), false);
        await settles(() => sink.hasIndex(s.name), true, 'hasIndex after ensureIndex');
        await sink.setAlias(a, s.name);
        await resolves(a, s.name);
        assert.equal(await sink.hasIndex(a), false, 'an alias is not an index');
        await sink.deleteAlias(a);
        await resolves(a, undefined);
        await sink.dropIndex(s.name);
        await settles(() => sink.hasIndex(s.name), false, 'hasIndex after dropIndex');
      });

      it('creates, moves and deletes an alias; readers resolve the old index or the new one, never neither', async () => {
        const a = alias();
        assert.equal(await sink.getAlias(a), undefined);
        const blue = await version('blue');
        const green = await version('green');
        await sink.setAlias(a, blue.name);
        await resolves(a, blue.name);
        await sink.setAlias(a, blue.name);
        assert.equal(await sink.getAlias(a), blue.name, 'setting the same target again changes nothing');
        assert.equal(await searchThrough(a), 'blue');

        const reads: (string | undefined)[] = [];
        let moving = true;
        const reader = (async () => {
          while (moving) reads.push(await sink.getAlias(a));
        })();
        for (let i = 0; i < 3; i++) {
          await sink.setAlias(a, green.name);
          await sink.setAlias(a, blue.name);
        }
        await sink.setAlias(a, green.name);
        moving = false;
        await reader;
        assert.ok(reads.length > 0);
        assert.deepEqual(
          reads.filter((r) => r !== blue.name && r !== green.name),
          [],
          'every read during the moves resolved to one of the two indexes',
        );
        await resolves(a, green.name);
        await settles(() => searchThrough(a), 'green', 'search through the moved alias');
        assert.equal(await sink.count(green.name), 2);

        await rejectsTyped(sink.dropIndex(green.name), FailureType.InvalidInput);
        assert.equal(await sink.count(green.name), 2, 'nothing of an aliased index is dropped');
        assert.equal(await sink.getAlias(a), green.name);
        await sink.dropIndex(blue.name); // no alias points at it any more

        await sink.deleteAlias(a);
        await resolves(a, undefined);
        await sink.deleteAlias(a);
        assert.equal(await sink.count(green.name), 2, 'deleteAlias leaves the index');
        await sink.dropIndex(green.name);
        await sink.dropIndex(green.name);
        await sink.dropIndex(`${base}never`);
        for (const s of [blue, green]) {
          // Dropped means gone: made again under the same name, the index is empty.
          await sink.ensureIndex(s);
          await settles(() => sink.count(s.name), 0, `count of ${s.name} made again after its drop`);
          assert.deepEqual(await sink.search(s.name, vec(0), { topK: 3 }), []);
        }
      });

      it('refuses a missing target, an alias as a target, an alias named like an index, and an index named like an alias', async () => {
        const a = alias();
        await rejectsTyped(sink.setAlias(a, `${base}missing`), FailureType.InvalidInput);
        assert.equal(await sink.getAlias(a), undefined);
        const s = await version('live');
        const other = await version('other');
        await rejectsTyped(sink.setAlias(other.name, s.name), FailureType.InvalidInput);
        await rejectsTyped(sink.setAlias(s.name, s.name), FailureType.InvalidInput);
        assert.equal(await sink.count(other.name), 2, 'the index named like the alias is untouched');
        assert.equal(await sink.getAlias(other.name), undefined);

        await sink.setAlias(a, s.name);
        await resolves(a, s.name);
        await rejectsTyped(sink.setAlias(alias(), a), FailureType.InvalidInput);
        await rejectsTyped(sink.ensureIndex({ ...spec(), name: a }), FailureType.SinkRejected);
        await rejectsTyped(sink.dropIndex(a), FailureType.InvalidInput);
        assert.equal(await sink.getAlias(a), s.name);
        assert.equal(await sink.count(s.name), 2);
      });

      it('points an alias at an index that is still empty', async () => {
        const a = alias();
        const s = await fresh();
        // The index may take a moment to be visible where writes are eventually consistent.
        await eventually(() => sink.setAlias(a, s.name).then(() => true), 15_000, `setAlias to ${s.name}`);
        await resolves(a, s.name);
        assert.deepEqual(await sink.search(s.name, vec(0), { topK: 1 }), []);
      });
    });
  });
}

/**
 * Wraps a sink so a suite knows which indexes and aliases it created: cleanup deletes the aliases through the sink,
 * then drops the indexes with `drop`.
 */
export function trackIndexes(inner: Sink, drop: (names: Set<string>) => Promise<void>): { sink: Sink; cleanup(): Promise<void> } {
  const made = new Set<string>();
  const aliases = new Set<string>();
  const sink: Sink = Object.create(inner) as Sink;
  sink.ensureIndex = (spec) => {
    made.add(spec.name);
    return inner.ensureIndex(spec);
  };
  sink.setAlias = (alias, index) => {
    aliases.add(alias);
    return inner.setAlias(alias, index);
  };
  const cleanup = async () => {
    for (const alias of aliases) await inner.deleteAlias(alias).catch(() => undefined);
    await drop(made);
  };
  return { sink, cleanup };
}
