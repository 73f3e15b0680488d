import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import weaviate, { type WeaviateClient } from 'weaviate-client';
import { serversPython } from '../../infra/services/python-servers.ts';
import { milvusCollectionName } from '../../connectors/sinks/milvus.ts';
import { weaviateClassName } from '../../connectors/sinks/weaviate.ts';
import { documentKey } from '../../pipeline/ids.ts';
import { indexAlias, validatePipelineSpec } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import type { ReconcileReport } from '../../workflows/types.ts';
import { eventually, stack } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const DAY = 86_400_000;

/** Runs Python with Chroma's own client (the chromadb package of the stack's venv). */
async function chromaPython(script: string, args: string[]): Promise<string> {
  return (await run(serversPython(stack), ['-c', script, ...args])).stdout;
}

describe('reconciliation: drift planted with each database’s own client is repaired exactly (real stack)', () => {
  const h = new Harness({
    sinks: [
      { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
      { kind: 'milvus', name: 'milvus', address: `127.0.0.1:${stack.ports.milvus}` },
      { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
    ],
  });
  const docs = Array.from({ length: 6 }, (_, i) => `heal/doc-${i}.txt`);
  const specFile = () => join(h.dataDir, 'pipeline.json');
  let sinks: Awaited<ReturnType<typeof createSinks>>;
  let wv: WeaviateClient;
  let milvus: MilvusClient;
  /** What was planted, to compare with the reports. */
  const planted = { chromaMissing: 0, chromaDocs: 2, total: 0, weaviateOrphans: [] as string[], foreign: '' };

  const ingest = async (args: string[]) => {
    writeFileSync(specFile(), JSON.stringify(h.spec));
    return (
      await run(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile(), ...args], {
        cwd: root,
        env: cliEnv(),
      })
    ).stdout;
  };

  before(async () => {
    sinks = await createSinks(h.spec);
    await h.start();
    wv = await weaviate.connectToLocal({ host: '127.0.0.1', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc });
    milvus = new MilvusClient({ address: `127.0.0.1:${stack.ports.milvus}`, logLevel: 'error' });
    for (const [i, key] of docs.entries())
      await h.put(key, `Document ${i} about ${['rivers', 'mountains', 'forests'][i % 3]} and their seasons. `.repeat(30));
    const counts = await h.ingestAll('heal/');
    assert.equal(counts.ingested, 6);
  });
  after(async () => {
    await wv?.close();
    await milvus?.closeConnection().catch(() => undefined);
    await h.dropIndexes(sinks.values()).catch(() => undefined);
    await Promise.all([...(sinks?.values() ?? [])].map((s) => s.close()));
    await h.client.temporal.schedule
      .getHandle(`schedule:${h.spec.name}-v1:${h.spec.tenant}:heal`)
      .delete()
      .catch(() => undefined);
    await h.stop();
  });

  const chunkIds = async (key: string) => (await h.ledger.get(h.spec.tenant, h.uri(key)))!.chunkIds;

  it('plants drift: chunks deleted in Chroma by its Python client, the Milvus collection dropped, orphans put in Weaviate', async () => {
    // Chroma: 2 chunks of doc-0 and every chunk of doc-1.
    const gone = [...(await chunkIds(docs[0]!)).slice(0, 2), ...(await chunkIds(docs[1]!))];
    planted.chromaMissing = gone.length;
    const out = await chromaPython(
      'import sys, json, chromadb\n' +
        'c = chromadb.HttpClient(host="127.0.0.1", port=int(sys.argv[1])).get_collection(sys.argv[2])\n' +
        'ids = json.loads(sys.argv[3]); c.delete(ids=ids)\n' +
        'print(len(c.get(ids=ids)["ids"]))',
      [String(stack.ports.chroma), h.index, JSON.stringify(gone)],
    );
    assert.equal(out.trim(), '0');

    // Milvus: the alias first (a Milvus server refuses to drop an aliased collection), then the collection.
    for (const key of docs) planted.total += (await chunkIds(key)).length;
    assert.equal((await milvus.dropAlias({ alias: milvusCollectionName(indexAlias(h.spec)) })).error_code, 'Success');
    assert.equal((await milvus.dropCollection({ collection_name: milvusCollectionName(h.index) })).error_code, 'Success');
    assert.equal((await milvus.hasCollection({ collection_name: milvusCollectionName(h.index) })).value, false);

    // Weaviate: two chunks of a document nobody ingested, one foreign id on a real document, and one chunk of
    // another tenant (not this tenant's business: it must stay).
    const col = wv.collections.get(weaviateClassName(h.index));
    const vector = Array.from({ length: 384 }, (_, i) => (i % 7) / 7);
    const object = (id: string, tenant: string, uri: string) => ({
      id,
      vectors: vector,
      properties: {
        text: 'planted',
        tenant,
        source_uri: uri,
        content_hash: 'x',
        pipeline_version: '1',
        chunk_index: 0,
        start: 0,
        end: 7,
      },
    });
    planted.weaviateOrphans = [randomUUID(), randomUUID(), randomUUID()];
    planted.foreign = randomUUID();
    const res = await col.data.insertMany([
      object(planted.weaviateOrphans[0]!, h.spec.tenant, h.uri('heal/never-ingested.txt')),
      object(planted.weaviateOrphans[1]!, h.spec.tenant, h.uri('heal/never-ingested.txt')),
      object(planted.weaviateOrphans[2]!, h.spec.tenant, h.uri(docs[2]!)),
      object(planted.foreign, 'someone-else', h.uri('heal/never-ingested.txt')),
    ]);
    assert.equal(res.hasErrors, false, JSON.stringify(res.errors));
  });

  it('`ingest reconcile --dry-run --json` reports exactly what was planted and changes nothing', async () => {
    const report = JSON.parse(await ingest(['reconcile', '--dry-run', '--json', '--no-worker'])) as ReconcileReport;
    const { chroma, milvus: mv, weaviate: w } = report.sinks;
    assert.deepEqual(
      [chroma!.missing, chroma!.documents, chroma!.orphans, chroma!.repaired],
      [planted.chromaMissing, planted.chromaDocs, 0, 0],
    );
    assert.deepEqual([mv!.missing, mv!.documents, mv!.rebuilt, mv!.repaired], [planted.total, 6, 0, 0]);
    assert.deepEqual([w!.missing, w!.orphans, w!.repaired], [0, 3, 0]);
    assert.equal(report.repairs.started, 0);
    assert.equal((await milvus.hasCollection({ collection_name: milvusCollectionName(h.index) })).value, false);
    const col = wv.collections.get(weaviateClassName(h.index));
    for (const id of planted.weaviateOrphans) assert.ok(await col.data.exists(id), `dry run kept ${id}`);
  });

  it('a reconcile schedule applied by `ingest schedule apply` and triggered repairs it all from cached vectors', async () => {
    // A stale artifact folder of a run that no longer exists (a terminated workflow leaves these), and a fresh one.
    const blobs = join(h.dataDir, 'blobs', 'work', h.spec.tenant, documentKey(h.spec.tenant, h.uri(docs[3]!)));
    const stale = join(blobs, randomUUID());
    const fresh = join(blobs, randomUUID());
    for (const dir of [stale, fresh]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'chunks.jsonl'), '{}\n');
    }
    const twoDaysAgo = new Date(Date.now() - 2 * DAY);
    utimesSync(join(stale, 'chunks.jsonl'), twoDaysAgo, twoDaysAgo);

    h.spec = validatePipelineSpec({
      ...h.spec,
      schedules: [{ name: 'heal', kind: 'reconcile', source: h.uri('heal/'), every: '1d', paused: true }],
    });
    assert.deepEqual(JSON.parse(await ingest(['schedule', 'apply', '--json'])).created, ['heal']);
    const described = JSON.parse(await ingest(['schedule', 'describe', 'heal', '--json'])) as { kind: string; paused: boolean };
    assert.deepEqual([described.kind, described.paused], ['reconcile', true]);
    await ingest(['schedule', 'trigger', 'heal']);
    const handle = h.client.temporal.schedule.getHandle(`schedule:${h.spec.name}-v1:${h.spec.tenant}:heal`);
    const workflowId = await eventually(
      async () => (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId,
      30_000,
      'the triggered run',
    );
    const report = (await h.client.temporal.workflow.getHandle(workflowId).result()) as ReconcileReport;

    const { chroma, milvus: mv, weaviate: w } = report.sinks;
    assert.deepEqual(
      { missing: chroma!.missing, orphans: chroma!.orphans, repaired: chroma!.repaired, rebuilt: chroma!.rebuilt },
      { missing: planted.chromaMissing, orphans: 0, repaired: planted.chromaMissing, rebuilt: 0 },
    );
    assert.deepEqual(
      { missing: mv!.missing, orphans: mv!.orphans, repaired: mv!.repaired, rebuilt: mv!.rebuilt },
      { missing: planted.total, orphans: 0, repaired: planted.total, rebuilt: 1 },
    );
    assert.deepEqual(
      { missing: w!.missing, orphans: w!.orphans, repaired: w!.repaired, rebuilt: w!.rebuilt },
      { missing: 0, orphans: 3, repaired: 3, rebuilt: 0 },
    );
    // Every document with drift anywhere was re-ingested once; no vector was computed again.
    assert.equal(report.repairs.started, 6);
    assert.equal(report.repairs.ingested, 6);
    assert.ok(report.repairs.chunks > 0);
    assert.equal(report.repairs.cached, report.repairs.chunks, 'zero embedding calls: every vector came from the cache');

    // Every sink now equals the ledger, document by document, and readers reach Milvus through its alias again.
    for (const key of docs) {
      const expected = [...(await chunkIds(key))].sort();
      for (const [name, sink] of sinks)
        assert.deepEqual((await sink.idsOfDocument(h.index, h.spec.tenant, h.uri(key))).sort(), expected, `${name} ${key}`);
    }
    assert.equal(await sinks.get('milvus')!.getAlias(indexAlias(h.spec)), h.index);
    const col = wv.collections.get(weaviateClassName(h.index));
    for (const id of planted.weaviateOrphans) assert.equal(await col.data.exists(id), false, `orphan ${id} deleted`);
    assert.ok(await col.data.exists(planted.foreign), "another tenant's chunk is left alone");

    // The janitor removed the stale folder and kept the fresh one.
    assert.equal(report.janitor.removed, 1);
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(fresh), true);
  });

  it('a second reconciliation finds nothing to do', async () => {
    const report = JSON.parse(await ingest(['reconcile', '--json', '--no-worker'])) as ReconcileReport;
    for (const [name, d] of Object.entries(report.sinks))
      assert.deepEqual([d.missing, d.orphans, d.repaired, d.rebuilt], [0, 0, 0, 0], name);
    assert.equal(report.documents, 6);
  });
});
