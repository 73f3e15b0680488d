// Safe promotion on real servers: validation covers every tenant behind the shared alias, a live document the new
// version would drop blocks the switch until it is accepted by name, a failed switch in one sink switches the others
// back, and a delete made during the grace period survives a rollback.
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { indexAlias, indexName, validatePipelineSpec } from '../../pipeline/spec.ts';
import { RaglineClient, type PromoteHandle } from '../../sdk/client.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { PromoteFailureType, type PromotionLossesDetails } from '../../workflows/promote-failures.ts';
import { startPineconeServer, type PineconeServer } from '../contract/pinecone-server.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { Harness } from './support.ts';

const text = (topic: string, n: number) => `A field report on ${topic}, part ${n}. `.repeat(20);

/** The ApplicationFailure at the end of a WorkflowFailedError's cause chain. */
function failureOf(e: unknown): ApplicationFailure {
  assert.ok(e instanceof WorkflowFailedError, String(e));
  let cause: Error | undefined = e;
  while (cause?.cause instanceof Error) cause = cause.cause;
  assert.ok(cause instanceof ApplicationFailure, String(cause));
  return cause;
}

/** Chunks a reader of `tenant` finds: through the alias, as `ingest search` resolves it. */
async function readable(sink: Sink, alias: string, tenant: string, sourceUri?: string): Promise<number> {
  const index = await sink.getAlias(alias);
  assert.ok(index, `alias ${alias} exists`);
  return sink.count(index, { tenant, ...(sourceUri === undefined ? {} : { sourceUri }) });
}

describe('promotion validates every tenant behind the shared alias', () => {
  const tenantA = uniqueName('pa');
  const tenantB = uniqueName('pb');
  const h = new Harness({ tenant: tenantA });
  let clientB: RaglineClient;
  const alias = indexAlias(h.spec);
  const v1 = indexName(h.spec);
  const connectB = () => RaglineClient.connect({ ...h.temporal, spec: validatePipelineSpec({ ...h.spec, tenant: tenantB }) });

  before(async () => {
    await h.start();
    clientB = await connectB();
    for (const t of ['a', 'b']) for (const n of [1, 2]) await h.put(`${t}/doc-${n}.txt`, text(`${t} topics`, n));
    assert.equal((await h.ingestAll('a/')).ingested, 2);
    assert.equal((await clientB.startIngest(h.uri('b/')).then((r) => r.result())).ingested, 2);
  });
  after(async () => {
    await clientB?.close();
    await h.dropIndexes([h.sink], [1, 2]);
    await h.stop();
  });

  it("refuses while another tenant's live documents are not built at the new version, and switches nothing", async () => {
    const bBefore = await readable(h.sink, alias, tenantB);
    assert.ok(bBefore > 0);
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 40, chunkOverlap: 4 } });
    await clientB.close();
    clientB = await connectB();
    assert.equal((await h.ingestAll('a/')).ingested, 2);

    const handle = await h.client.promote({ retireAfterMs: 120_000 });
    await assert.rejects(handle.switched(), (e: unknown) => {
      const f = failureOf(e);
      assert.equal(f.type, PromoteFailureType.LossesNotAccepted);
      assert.equal(f.nonRetryable, true);
      const details = f.details?.[0] as PromotionLossesDetails;
      assert.equal(details.total, 2);
      assert.deepEqual(details.losses.map((l) => [l.tenant, l.sourceUri, l.reason]).sort(), [
        [tenantB, h.uri('b/doc-1.txt'), 'missing'],
        [tenantB, h.uri('b/doc-2.txt'), 'missing'],
      ]);
      return true;
    });
    assert.equal(await h.sink.getAlias(alias), v1);
    assert.equal(await readable(h.sink, alias, tenantB), bBefore, "B's search is untouched");
  });

  it('passes once both tenants are built, reports each tenant, and both tenants keep their search', async () => {
    const v2 = indexName(h.spec);
    assert.equal((await clientB.startIngest(h.uri('b/')).then((r) => r.result())).ingested, 2);
    const handle = await h.client.promote({ retireAfterMs: 120_000 });
    const switched = await handle.switched();
    assert.equal(switched.phase, 'grace');
    const tenants = switched.validation!.chroma!.tenants;
    assert.deepEqual(Object.keys(tenants).sort(), [tenantA, tenantB].sort());
    for (const [tenant, t] of Object.entries(tenants)) {
      assert.ok(t.expected > 0 && t.count === t.expected && t.documents === 2, `${tenant}: ${JSON.stringify(t)}`);
    }
    assert.equal(await h.sink.getAlias(alias), v2);
    await handle.retireNow();
    assert.equal((await handle.result()).sinks.chroma!.dropped, true);
    assert.equal(await readable(h.sink, alias, tenantA), tenants[tenantA]!.count);
    assert.equal(await readable(h.sink, alias, tenantB), tenants[tenantB]!.count);
  });
});

describe('losses block promotion until accepted; a delete during the grace period survives a rollback', () => {
  const h = new Harness();
  const alias = indexAlias(h.spec);
  const v1 = indexName(h.spec);
  let v2 = '';
  let grace: PromoteHandle;

  before(async () => {
    await h.start();
    for (const n of [0, 1, 2]) await h.put(`doc-${n}.txt`, text('estuaries', n));
    assert.equal((await h.ingestAll()).ingested, 3);
  });
  after(async () => {
    await h.dropIndexes([h.sink], [1, 2]);
    await h.stop();
  });

  it('a document that failed at the new version blocks the promotion until the operator accepts it by name', async () => {
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 40, chunkOverlap: 4 } });
    v2 = indexName(h.spec);
    await h.put('doc-2.txt', ''); // the new version reads an empty object: EmptyDocument
    const counts = await h.ingestAll();
    assert.deepEqual([counts.ingested, counts.failed], [2, 1]);
    const lost = h.uri('doc-2.txt');

    for (const acceptLosses of [undefined, [h.uri('doc-0.txt')]]) {
      const refused = await h.client.promote({ retireAfterMs: 300_000, ...(acceptLosses ? { acceptLosses } : {}) });
      await assert.rejects(refused.switched(), (e: unknown) => {
        const f = failureOf(e);
        assert.equal(f.type, PromoteFailureType.LossesNotAccepted);
        const details = f.details?.[0] as PromotionLossesDetails;
        assert.equal(details.total, 1);
        assert.deepEqual(
          details.losses.map((l) => [l.tenant, l.sourceUri, l.reason]),
          [[h.spec.tenant, lost, 'failed']],
        );
        assert.match(details.losses[0]!.error ?? '', /EmptyDocument/);
        assert.match(f.message, new RegExp(`${lost}`));
        return true;
      });
      assert.equal(await h.sink.getAlias(alias), v1, 'nothing switched');
    }

    grace = await h.client.promote({ retireAfterMs: 300_000, acceptLosses: [lost] });
    const switched = await grace.switched();
    assert.equal(switched.phase, 'grace');
    assert.equal(switched.validation!.chroma!.acceptedLossCount, 1);
    assert.deepEqual(
      switched.validation!.chroma!.acceptedLosses!.map((l) => l.sourceUri),
      [lost],
    );
    assert.equal(await h.sink.getAlias(alias), v2);
    assert.equal(await readable(h.sink, alias, h.spec.tenant, lost), 0, 'the accepted loss is gone from search');
  });

  it('a document deleted during the grace period is not searchable after a rollback', async () => {
    const gone = h.uri('doc-0.txt');
    await h.remove('doc-0.txt');
    assert.equal((await h.client.deleteDocument(gone)).status, 'deleted');
    assert.equal(await readable(h.sink, alias, h.spec.tenant, gone), 0);
    // The delete reached only the live index: the replaced one still holds the document, which a rollback must fix.
    assert.ok((await h.sink.idsOfDocument(v1, h.spec.tenant, gone)).length > 0);

    await grace.rollback();
    assert.equal((await grace.result()).phase, 'rolled-back');
    assert.equal(await h.sink.getAlias(alias), v1);
    assert.equal(await readable(h.sink, alias, h.spec.tenant, gone), 0, 'the deleted document stays gone');
    assert.deepEqual(await h.sink.idsOfDocument(v1, h.spec.tenant, gone), []);
    assert.equal((await h.ledger.forVersion(1).get(h.spec.tenant, gone))?.status, 'deleted', "version 1's ledger follows");
    assert.ok((await readable(h.sink, alias, h.spec.tenant, h.uri('doc-1.txt'))) > 0, 'the other documents stay');
    assert.ok((await readable(h.sink, alias, h.spec.tenant, h.uri('doc-2.txt'))) > 0, 'the accepted loss is back');
  });
});

/** A proxy in front of the Pinecone test server that, once armed, refuses every write of an alias record (HTTP 400). */
async function aliasRefusingProxy(target: string) {
  const state = { armed: false, refused: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (state.armed && req.method === 'POST' && req.url?.startsWith('/vectors/upsert')) {
        const parsed = JSON.parse(body.toString('utf8')) as { vectors?: Array<{ id?: string }> };
        if (parsed.vectors?.some((v) => v.id?.startsWith('alias:'))) {
          state.refused++;
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 3, message: 'this test refuses alias writes', details: [] }));
          return;
        }
      }
      const url = new URL(req.url ?? '/', target);
      const up = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('a failed alias switch in one sink switches the others back', () => {
  const KEY = 'promotion-safety-key';
  let pinecone: PineconeServer;
  let proxy: Awaited<ReturnType<typeof aliasRefusingProxy>>;
  let h: Harness;
  let sinks: Map<string, Sink>;

  before(async () => {
    pinecone = await startPineconeServer({ dimension: 384, apiKey: KEY });
    proxy = await aliasRefusingProxy(pinecone.url);
    h = new Harness({
      sinks: [
        { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
        { kind: 'pinecone', name: 'pinecone', apiKey: KEY, indexHost: proxy.url },
      ],
    });
    await h.start();
    sinks = await createSinks(h.spec);
    for (const n of [0, 1]) await h.put(`doc-${n}.txt`, text('tidal flats', n));
    assert.equal((await h.ingestAll()).ingested, 2);
  });
  after(async () => {
    if (proxy) proxy.state.armed = false;
    if (sinks) {
      await h.dropIndexes(sinks.values(), [1, 2]);
      await Promise.all([...sinks.values()].map((s) => s.close()));
    }
    await h?.stop();
    await proxy?.close();
    await pinecone?.close();
  });

  it("leaves every sink's alias on the old version, records the new one as building, and fails with a clear error", async () => {
    const alias = indexAlias(h.spec);
    const v1 = indexName(h.spec);
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 40, chunkOverlap: 4 } });
    const v2 = indexName(h.spec);
    assert.equal((await h.ingestAll()).ingested, 2);

    proxy.state.armed = true;
    const handle = await h.client.promote({ retireAfterMs: 120_000 });
    await assert.rejects(handle.switched(), (e: unknown) => {
      const f = failureOf(e);
      assert.equal(f.type, PromoteFailureType.SwitchFailed);
      assert.match(f.message, /pinecone: .*this test refuses alias writes/);
      assert.match(f.message, /switched back chroma/);
      return true;
    });
    assert.ok(proxy.state.refused > 0);
    for (const [name, sink] of sinks) assert.equal(await sink.getAlias(alias), v1, name);
    const state = await handle.state();
    assert.equal(state.phase, 'compensating');
    assert.match(state.sinks.pinecone!.switchError ?? '', /refuses alias writes/);
    const history = await h.ledger.listIndexVersions(alias);
    const chroma = Object.fromEntries(history.filter((v) => v.sink === 'chroma').map((v) => [v.index, v.state]));
    assert.deepEqual(chroma, { [v1]: 'current', [v2]: 'building' });
  });
});
