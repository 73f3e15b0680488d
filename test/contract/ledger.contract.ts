import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DocStatus,
  IndexState,
  type DocumentRecord,
  type IndexVersionRecord,
  type Ledger,
  type LedgerScope,
  type SinkState,
} from '../../connectors/ledger/ledger.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';

export interface LedgerFixture {
  ledger: Ledger;
  /** A second, independent connection to the same store (another worker process's view). */
  openAnother(): Promise<Ledger>;
  /** Another pipeline (or version) over the same store. */
  openScope(scope: LedgerScope): Promise<Ledger>;
  dispose(): Promise<void>;
}

function record(tenant: string, sourceUri: string, over: Partial<DocumentRecord> = {}): DocumentRecord {
  return {
    tenant,
    sourceUri,
    status: DocStatus.ingested,
    contentHash: null,
    pipelineVersion: null,
    chunkIds: [],
    sinks: {},
    lastError: null,
    sourceVersion: null,
    eventAt: null,
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...over,
  };
}

function sinkState(n: number, state: SinkState['state'] = 'ok'): SinkState {
  return { state, upserted: n, updatedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString() };
}

/**
 * The behaviour every Ledger shares. Tenants are unique per case, so one store serves them all and cases can assume
 * they see only their own records when they filter by tenant.
 */
export function ledgerContract(name: string, factory: () => Promise<LedgerFixture>): void {
  describe(`Ledger contract: ${name}`, () => {
    let fx: LedgerFixture;
    let ledger: Ledger;
    let n = 0;
    const tenant = () => `t${++n}-${name.replace(/\W/g, '')}`;

    before(async () => {
      fx = await factory();
      ledger = fx.ledger;
    });
    after(async () => {
      await fx?.ledger.close();
      await fx?.dispose();
    });

    it('put/get round-trips every field', async () => {
      const t = tenant();
      const full = record(t, 's3://bucket/docs/report ü.pdf', {
        status: DocStatus.failed,
        contentHash: 'a'.repeat(64),
        pipelineVersion: 'p-2025.1',
        chunkIds: ['c-1', 'c-2', 'c-3'],
        sinks: {
          weaviate: { state: 'ok', upserted: 3, updatedAt: '2025-01-01T00:00:01.000Z' },
          milvus: { state: 'failed', error: 'timeout', updatedAt: '2025-01-01T00:00:02.000Z' },
          chroma: { state: 'pending', updatedAt: '2025-01-01T00:00:03.000Z' },
        },
        lastError: { type: FailureType.CorruptDocument, message: 'bad xref table' },
        sourceVersion: '0000018F2A',
        updatedAt: '2025-06-01T12:34:56.789Z',
      });
      await ledger.put(full);
      assert.deepEqual(await ledger.get(t, full.sourceUri), full);

      const minimal = record(t, 'file:///minimal.txt');
      await ledger.put(minimal);
      assert.deepEqual(await ledger.get(t, minimal.sourceUri), minimal);
    });

    it('put replaces the whole record', async () => {
      const t = tenant();
      await ledger.put(record(t, 'u', { chunkIds: ['old'], sinks: { a: sinkState(1) }, lastError: { type: 'X', message: 'm' } }));
      const next = record(t, 'u', { status: DocStatus.deleted, chunkIds: [], sinks: {} });
      await ledger.put(next);
      assert.deepEqual(await ledger.get(t, 'u'), next);
    });

    it('get of a missing document is undefined; the same uri of another tenant is another document', async () => {
      const t = tenant();
      assert.equal(await ledger.get(t, 'nothing'), undefined);
      await ledger.put(record(t, 'shared-uri'));
      assert.equal(await ledger.get(tenant(), 'shared-uri'), undefined);
    });

    it('setSinkState updates one sink and keeps the other sinks and fields', async () => {
      const t = tenant();
      const base = record(t, 'doc', {
        chunkIds: ['x'],
        sinks: { a: sinkState(1), b: sinkState(2, 'pending') },
        contentHash: 'h',
      });
      await ledger.put(base);
      await ledger.setSinkState(t, 'doc', 'b', sinkState(5));
      await ledger.setSinkState(t, 'doc', 'c', { state: 'failed', error: 'rejected', updatedAt: '2025-02-02T00:00:00.000Z' });
      assert.deepEqual(await ledger.get(t, 'doc'), {
        ...base,
        sinks: {
          a: sinkState(1),
          b: sinkState(5),
          c: { state: 'failed', error: 'rejected', updatedAt: '2025-02-02T00:00:00.000Z' },
        },
      });
    });

    it('setSinkState of a missing document throws NotFound', async () => {
      await assert.rejects(
        ledger.setSinkState(tenant(), 'absent', 'a', sinkState(1)),
        (err: unknown) => err instanceof ConnectorError && err.type === FailureType.NotFound,
      );
    });

    it('two connections updating different sinks of one document concurrently lose nothing', async () => {
      const t = tenant();
      await ledger.put(record(t, 'contended', { sinks: { untouched: sinkState(0) } }));
      const other = await fx.openAnother();
      try {
        const rounds = 50;
        const writer = (l: Ledger, sink: string) => async () => {
          for (let i = 1; i <= rounds; i++) {
            await l.setSinkState(t, 'contended', sink, sinkState(i, i === rounds ? 'ok' : 'pending'));
            await new Promise((r) => setImmediate(r));
          }
        };
        await Promise.all([writer(ledger, 'weaviate')(), writer(other, 'milvus')()]);
        const seenByOther = await other.get(t, 'contended');
        assert.deepEqual(seenByOther?.sinks, {
          untouched: sinkState(0),
          weaviate: sinkState(rounds),
          milvus: sinkState(rounds),
        });
        assert.deepEqual(await ledger.get(t, 'contended'), seenByOther);
      } finally {
        await other.close();
      }
    });

    it('list filters by tenant, status and source prefix', async () => {
      const t1 = tenant();
      const t2 = tenant();
      await ledger.put(record(t1, 's3://b/docs/a.pdf', { status: DocStatus.ingested }));
      await ledger.put(record(t1, 's3://b/docs/b.pdf', { status: DocStatus.failed }));
      await ledger.put(record(t1, 's3://b/docs-old/c.pdf', { status: DocStatus.ingested }));
      await ledger.put(record(t1, 's3://b/other/d.pdf', { status: DocStatus.ingested }));
      await ledger.put(record(t2, 's3://b/docs/a.pdf', { status: DocStatus.ingested }));
      const uris = async (q: Parameters<Ledger['list']>[0]) =>
        (await ledger.list(q)).records.map((r) => `${r.tenant}|${r.sourceUri}`);

      assert.deepEqual(await uris({ tenant: t1 }), [
        `${t1}|s3://b/docs-old/c.pdf`,
        `${t1}|s3://b/docs/a.pdf`,
        `${t1}|s3://b/docs/b.pdf`,
        `${t1}|s3://b/other/d.pdf`,
      ]);
      assert.deepEqual(await uris({ tenant: t1, status: DocStatus.failed }), [`${t1}|s3://b/docs/b.pdf`]);
      assert.deepEqual(await uris({ tenant: t1, sourcePrefix: 's3://b/docs/' }), [
        `${t1}|s3://b/docs/a.pdf`,
        `${t1}|s3://b/docs/b.pdf`,
      ]);
      assert.deepEqual(await uris({ tenant: t1, sourcePrefix: 's3://b/docs/', status: DocStatus.ingested }), [
        `${t1}|s3://b/docs/a.pdf`,
      ]);
      // A prefix is literal: no wildcards, case-sensitive.
      assert.deepEqual(await uris({ tenant: t1, sourcePrefix: 's3://b/docs%' }), []);
      assert.deepEqual(await uris({ tenant: t1, sourcePrefix: 's3://b/DOCS/' }), []);
      assert.deepEqual(await uris({ tenant: t1, status: DocStatus.deleted }), []);

      const acrossTenants = await uris({ sourcePrefix: 's3://b/docs/a.pdf' });
      assert.ok(acrossTenants.includes(`${t1}|s3://b/docs/a.pdf`) && acrossTenants.includes(`${t2}|s3://b/docs/a.pdf`));
      assert.ok(acrossTenants.every((u) => u.endsWith('|s3://b/docs/a.pdf')));
      // Records come back whole.
      const [first] = (await ledger.list({ tenant: t2 })).records;
      assert.deepEqual(first, record(t2, 's3://b/docs/a.pdf'));
    });

    it('paging through 25 records 10 at a time returns each exactly once', async () => {
      const t = tenant();
      const all = Array.from({ length: 25 }, (_, i) => `file:///p/${String(i).padStart(2, '0')}`);
      for (const uri of [...all].reverse()) await ledger.put(record(t, uri));
      const seen: string[] = [];
      const pageSizes: number[] = [];
      let after: string | undefined;
      do {
        const page = await ledger.list({ tenant: t, limit: 10, after });
        pageSizes.push(page.records.length);
        seen.push(...page.records.map((r) => r.sourceUri));
        after = page.next;
      } while (after);
      assert.deepEqual(pageSizes, [10, 10, 5]);
      assert.deepEqual(seen, all);

      // The same holds with a prefix and a status filter in play, and when the last page is exactly full.
      const filtered: string[] = [];
      after = undefined;
      do {
        const page = await ledger.list({ tenant: t, sourcePrefix: 'file:///p/1', status: DocStatus.ingested, limit: 5, after });
        filtered.push(...page.records.map((r) => r.sourceUri));
        after = page.next;
      } while (after);
      assert.deepEqual(filtered, all.slice(10, 20));
    });

    it('an invalid cursor is InvalidInput', async () => {
      await assert.rejects(
        ledger.list({ after: 'not a cursor' }),
        (err: unknown) => err instanceof ConnectorError && err.type === FailureType.InvalidInput,
      );
    });

    it('counts has every status, zeros included, per tenant and overall', async () => {
      const t = tenant();
      const zero = Object.fromEntries(Object.values(DocStatus).map((s) => [s, 0]));
      assert.deepEqual(await ledger.counts(t), zero);
      await ledger.put(record(t, 'a', { status: DocStatus.ingested }));
      await ledger.put(record(t, 'b', { status: DocStatus.ingested }));
      await ledger.put(record(t, 'c', { status: DocStatus.failed }));
      await ledger.put(record(t, 'd', { status: DocStatus.processing }));
      assert.deepEqual(await ledger.counts(t), { ...zero, ingested: 2, failed: 1, processing: 1 });

      const before = await ledger.counts();
      await ledger.put(record(tenant(), 'e', { status: DocStatus.unchanged }));
      const afterPut = await ledger.counts();
      assert.deepEqual(Object.keys(afterPut).sort(), Object.keys(zero).sort());
      assert.equal(afterPut.unchanged, before.unchanged + 1);
      assert.equal(afterPut.ingested, before.ingested);
    });

    it('totals counts the documents and chunk ids of one pipeline stamp across tenants, live documents only', async () => {
      const stamp = `7+${name.replace(/\W/g, '')}${Date.now()}`;
      assert.deepEqual(await ledger.totals(stamp), { documents: 0, chunks: 0 });
      const [t1, t2] = [tenant(), tenant()];
      await ledger.put(record(t1, 'a', { pipelineVersion: stamp, chunkIds: ['1', '2', '3'] }));
      await ledger.put(record(t2, 'a', { pipelineVersion: stamp, status: DocStatus.unchanged, chunkIds: ['4'] }));
      await ledger.put(record(t1, 'b', { pipelineVersion: stamp, status: DocStatus.failed, chunkIds: ['5', '6'] }));
      await ledger.put(record(t1, 'c', { pipelineVersion: stamp, status: DocStatus.deleted, chunkIds: [] }));
      await ledger.put(record(t1, 'd', { pipelineVersion: `${stamp}x`, chunkIds: ['7'] }));
      assert.deepEqual(await ledger.totals(stamp), { documents: 2, chunks: 4 });
      assert.deepEqual(await ledger.totals(stamp, t1), { documents: 1, chunks: 3 });
      assert.deepEqual(await ledger.totals(stamp, t2), { documents: 1, chunks: 1 });
    });

    it('deleteTenant removes one tenant of this version only', async () => {
      const [t1, t2] = [tenant(), tenant()];
      const next = ledger.forVersion(ledger.scope.version + 1);
      for (const uri of ['a', 'b', 'c']) await ledger.put(record(t1, uri));
      await ledger.put(record(t2, 'a'));
      await next.put(record(t1, 'a'));
      assert.equal(await ledger.deleteTenant(t1), 3);
      assert.deepEqual((await ledger.list({ tenant: t1 })).records, []);
      assert.equal((await ledger.list({ tenant: t2 })).records.length, 1);
      assert.ok(await next.get(t1, 'a'), 'another version keeps its rows');
      assert.equal(await ledger.deleteTenant(t1), 0);
    });

    it('identity is (pipeline, version, tenant, uri): other pipelines and versions never see or overwrite a row', async () => {
      const t = tenant();
      const { pipeline, version } = ledger.scope;
      const otherPipeline = await fx.openScope({ pipeline: `${pipeline}-other`, version });
      const nextVersion = ledger.forVersion(version + 1);
      try {
        assert.deepEqual(nextVersion.scope, { pipeline, version: version + 1 });
        await ledger.put(record(t, 'doc', { chunkIds: ['a'], pipelineVersion: `${version}` }));
        await otherPipeline.put(record(t, 'doc', { chunkIds: ['b', 'c'], pipelineVersion: `${version}` }));
        await nextVersion.put(record(t, 'doc', { status: DocStatus.failed, pipelineVersion: `${version + 1}` }));
        assert.deepEqual((await ledger.get(t, 'doc'))?.chunkIds, ['a']);
        assert.deepEqual((await otherPipeline.get(t, 'doc'))?.chunkIds, ['b', 'c']);
        assert.equal((await nextVersion.get(t, 'doc'))?.status, DocStatus.failed);
        await nextVersion.setSinkState(t, 'doc', 's', sinkState(1));
        assert.deepEqual((await ledger.get(t, 'doc'))?.sinks, {});
        assert.deepEqual(
          (await ledger.list({ tenant: t })).records.map((r) => r.chunkIds),
          [['a']],
        );
        assert.equal((await ledger.counts(t)).failed, 0);
        assert.equal((await nextVersion.counts(t)).failed, 1);
        assert.deepEqual(await ledger.totals(`${version}`, t), { documents: 1, chunks: 1 });
        // A view shares the connection: closing it leaves the ledger usable.
        await nextVersion.close();
        assert.equal((await ledger.get(t, 'doc'))?.status, DocStatus.ingested);
      } finally {
        await otherPipeline.close();
      }
    });

    it('eventAt round-trips', async () => {
      const t = tenant();
      await ledger.put(record(t, 'e', { eventAt: '2026-01-02T03:04:05.678Z', sourceVersion: 'etag-1' }));
      const got = await ledger.get(t, 'e');
      assert.equal(got?.eventAt, '2026-01-02T03:04:05.678Z');
      assert.equal(got?.sourceVersion, 'etag-1');
    });

    it('index versions: put inserts or replaces per (alias, sink, index); list is per alias in the order first recorded', async () => {
      const alias = `alias-${tenant()}`;
      assert.deepEqual(await ledger.listIndexVersions(alias), []);
      const v1: IndexVersionRecord = {
        alias,
        sink: 'chroma',
        index: `${alias}-v1`,
        state: IndexState.current,
        chunks: 12,
        promotedAt: '2025-01-01T00:00:00.000Z',
        retireAfter: null,
        updatedAt: '2025-01-01T00:00:00.000Z',
      };
      const v2: IndexVersionRecord = {
        ...v1,
        index: `${alias}-v2`,
        state: IndexState.building,
        chunks: null,
        promotedAt: null,
        updatedAt: '2025-01-02T00:00:00.000Z',
      };
      const other: IndexVersionRecord = { ...v1, sink: 'milvus' };
      await ledger.putIndexVersion(v1);
      await ledger.putIndexVersion(v2);
      await ledger.putIndexVersion(other);
      await ledger.putIndexVersion({ ...v1, alias: `${alias}x` });
      assert.deepEqual(await ledger.listIndexVersions(alias), [v1, v2, other]);

      const retiring = {
        ...v1,
        state: IndexState.retiring,
        retireAfter: '2025-01-03T00:00:00.000Z',
        updatedAt: '2025-01-02T00:00:01.000Z',
      };
      const live = {
        ...v2,
        state: IndexState.current,
        chunks: 14,
        promotedAt: '2025-01-02T00:00:01.000Z',
        updatedAt: '2025-01-02T00:00:01.000Z',
      };
      await ledger.putIndexVersion(retiring);
      await ledger.putIndexVersion(live);
      const again = await fx.openAnother();
      try {
        assert.deepEqual(await again.listIndexVersions(alias), [retiring, live, other]);
      } finally {
        await again.close();
      }
    });
  });
}
