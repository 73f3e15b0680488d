// Two tenants share one pipeline, one set of workers, one index per sink and even the same source uris. Nothing a
// tenant can do through the CLI or the SDK reads, counts or deletes the other's chunks, in any sink.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { SearchHit, Sink } from '../../connectors/sinks/sink.ts';
import { validatePipelineSpec } from '../../pipeline/spec.ts';
import { RaglineClient } from '../../sdk/client.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { startPineconeServer, type PineconeServer } from '../contract/pinecone-server.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const PINECONE_KEY = 'tenant-isolation-key';

const text = (tenant: string, topic: string) =>
  `Handbook of ${tenant}. ${topic} Every tenant keeps its own copy of this page, with its own marker ${tenant}-marker.`;

describe('tenant isolation on every sink (CLI, SDK, search)', () => {
  let pinecone: PineconeServer;
  let h: Harness;
  let sinks: Map<string, Sink>;
  let clientB: RaglineClient;
  let specFile: string;
  const tenantA = uniqueName('ta');
  const tenantB = uniqueName('tb');

  /** `ingest --pipeline FILE --tenant T <args>` as a user runs it (workers are the harness's, in this process). */
  async function ingest(tenant: string, args: string[]): Promise<string> {
    const { stdout } = await run(
      process.execPath,
      [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, '--tenant', tenant, ...args],
      { cwd: root, env: cliEnv(), maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout;
  }
  const countOf = (sink: Sink, tenant: string, sourceUri?: string) => sink.count(h.index, { tenant, sourceUri });

  before(async () => {
    pinecone = await startPineconeServer({ dimension: 384, apiKey: PINECONE_KEY });
    h = new Harness({
      tenant: tenantA,
      sinks: [
        { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
        { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
        { kind: 'milvus', name: 'milvus', address: `127.0.0.1:${stack.ports.milvus}` },
        { kind: 'pinecone', name: 'pinecone', apiKey: PINECONE_KEY, indexHost: pinecone.url },
      ],
    });
    await h.start();
    sinks = await createSinks(h.spec);
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    clientB = await RaglineClient.connect({
      address: `127.0.0.1:${stack.ports.temporal}`,
      namespace: stack.temporalNamespace,
      spec: validatePipelineSpec({ ...h.spec, tenant: tenantB }),
    });
    // The same two uris for both tenants (each tenant reads its own bytes of them in turn), and one only B has.
    for (const [tenant, client] of [
      [tenantA, h.client],
      [tenantB, clientB],
    ] as const) {
      await h.put('shared/one.md', text(tenant, 'Retries use exponential backoff.'));
      await h.put('shared/two.md', text(tenant, 'The ledger records content hashes.'));
      if (tenant === tenantB) await h.put('only-b/secret.md', text(tenant, 'Quarterly revenue is confidential.'));
      const counts = await client.startIngest(h.uri('')).then((r) => r.result());
      assert.equal(counts.failed, 0, `${tenant}: ${JSON.stringify(counts)}`);
      // The ledger skips by object version: rewriting the objects for B changed them, so B ingested its own bytes.
    }
  });
  after(async () => {
    await clientB?.close();
    if (sinks) {
      await h.dropIndexes(sinks.values());
      await Promise.all([...sinks.values()].map((s) => s.close()));
    }
    await h?.stop();
    await pinecone?.close();
  });

  it('each sink holds both tenants under the same uris, as separate chunks', async () => {
    for (const [name, sink] of sinks) {
      const a = await sink.idsOfDocument(h.index, tenantA, h.uri('shared/one.md'));
      const b = await sink.idsOfDocument(h.index, tenantB, h.uri('shared/one.md'));
      assert.ok(a.length > 0 && b.length > 0, `${name}: a ${a.length}, b ${b.length}`);
      assert.deepEqual(
        a.filter((id) => b.includes(id)),
        [],
        `${name}: no chunk id is shared`,
      );
      assert.equal(await countOf(sink, tenantA, h.uri('only-b/secret.md')), 0, `${name}: A has nothing of B's own document`);
    }
  });

  it("`ingest search` as tenant A never returns B's chunks, in any sink, even asked for B's words", async () => {
    for (const name of sinks.keys()) {
      const out = JSON.parse(
        await ingest(tenantA, [
          'search',
          `Quarterly revenue is confidential ${tenantB}-marker`,
          '-k',
          '50',
          '--sink',
          name,
          '--json',
        ]),
      ) as { hits: SearchHit[] };
      assert.ok(out.hits.length > 0, `${name}: A finds its own chunks`);
      for (const hit of out.hits) {
        assert.equal(hit.metadata.tenant, tenantA, `${name}: hit ${hit.id} of tenant ${hit.metadata.tenant}`);
        assert.ok(!hit.text.includes(`${tenantB}-marker`), `${name}: B's text in A's results`);
      }
    }
  });

  it("`ingest status` counts and lists only the asking tenant's documents", async () => {
    const a = JSON.parse(await ingest(tenantA, ['status', '--json'])) as {
      tenant: string;
      counts: Record<string, number>;
      documents: { sourceUri: string }[];
    };
    const b = JSON.parse(await ingest(tenantB, ['status', '--json'])) as typeof a;
    assert.equal(a.tenant, tenantA);
    assert.deepEqual(a.documents.map((d) => d.sourceUri).sort(), [h.uri('shared/one.md'), h.uri('shared/two.md')]);
    assert.equal(a.counts.ingested, 2);
    assert.deepEqual(b.documents.map((d) => d.sourceUri).sort(), [
      h.uri('only-b/secret.md'),
      h.uri('shared/one.md'),
      h.uri('shared/two.md'),
    ]);
    assert.equal(b.counts.ingested, 3);
  });

  it("`ingest delete` as A and the SDK's deleteDocument as B each remove only their own tenant's chunks", async () => {
    const before = new Map<string, number>();
    for (const [name, sink] of sinks) before.set(name, await countOf(sink, tenantB, h.uri('shared/one.md')));

    await ingest(tenantA, ['delete', h.uri('shared/one.md'), '--no-worker']);
    for (const [name, sink] of sinks) {
      assert.equal(await countOf(sink, tenantA, h.uri('shared/one.md')), 0, `${name}: A's copy deleted`);
      assert.equal(await countOf(sink, tenantB, h.uri('shared/one.md')), before.get(name), `${name}: B's copy untouched`);
    }
    assert.equal((await h.ledger.get(tenantB, h.uri('shared/one.md')))?.status, 'ingested', "B's ledger row untouched");
    assert.equal((await h.ledger.get(tenantA, h.uri('shared/one.md')))?.status, 'deleted');

    const outcome = await clientB.deleteDocument(h.uri('shared/two.md'), { force: true });
    assert.equal(outcome.status, 'deleted');
    for (const [name, sink] of sinks) {
      assert.equal(await countOf(sink, tenantB, h.uri('shared/two.md')), 0, `${name}: B's copy deleted`);
      assert.ok((await countOf(sink, tenantA, h.uri('shared/two.md'))) > 0, `${name}: A's copy untouched`);
    }
    assert.equal((await h.ledger.get(tenantA, h.uri('shared/two.md')))?.status, 'ingested');
  });
});
