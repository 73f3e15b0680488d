import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { indexAlias, indexName } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { eventually, stack } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const DOCS = 150;

describe('ingest reindex: a new chunker built beside the live version while readers search (real stack)', () => {
  const h = new Harness({
    embedder: { kind: 'hash', dims: 64 },
    sinks: [
      { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
      { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
    ],
  });
  const alias = indexAlias(h.spec);
  let sinks: Map<string, Sink>;

  const ingest = async (args: string[]) => {
    const file = join(h.dataDir, `pipeline-v${h.spec.version}.json`);
    writeFileSync(file, JSON.stringify(h.spec));
    return run(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', file, ...args], { cwd: root, env: cliEnv() });
  };

  before(async () => {
    sinks = await createSinks(h.spec);
    await h.start();
    for (let i = 0; i < DOCS; i++)
      await h.put(`corpus/doc-${String(i).padStart(3, '0')}.txt`, `Note ${i} on topic ${i % 11}. `.repeat(12 + (i % 5)));
    assert.equal((await h.ingestAll('corpus/')).ingested, DOCS);
  });
  after(async () => {
    for (const [, sink] of sinks) {
      await sink.deleteAlias(alias).catch(() => undefined);
      for (const v of [1, 2, 3]) await sink.dropIndex(`${h.spec.name}-v${v}`).catch(() => undefined);
      await sink.close();
    }
    await h.stop();
  });

  it('readers never get an empty or mixed-version answer, the switch happens once, and v1 is dropped after the grace', async () => {
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 32, chunkOverlap: 0 } });
    const v1 = indexName({ ...h.spec, version: 1 });
    const v2 = indexName(h.spec);
    const query = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i + 1));
    const seen: Record<string, string[]> = { chroma: [], weaviate: [] };
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        for (const [name, sink] of sinks) {
          const index = (await sink.getAlias(alias))!;
          const hits = await sink.search(index, query, { topK: 10, tenant: h.spec.tenant });
          assert.equal(hits.length, 10, `${name}: an empty or short answer from ${index}`);
          const versions = [...new Set(hits.map((x) => x.metadata.pipelineVersion))];
          assert.equal(versions.length, 1, `${name}: a mixed answer ${versions.join(', ')}`);
          assert.equal(`${h.spec.name}-v${versions[0]}`, index, `${name}: hits of another version than ${index}`);
          const last = seen[name]!.at(-1);
          if (last !== versions[0]) seen[name]!.push(versions[0]!);
          reads++;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const { stdout } = await ingest(['reindex', '--source', h.uri('corpus/'), '--retire-after', '0.1', '--json', '--no-worker']);
    reading = false;
    await reader;
    const summary = JSON.parse(stdout) as {
      documents: { ingested: number; failed: number };
      from: Record<string, string>;
      to: string;
      promotion: { phase: string };
    };
    assert.deepEqual([summary.documents.ingested, summary.documents.failed], [DOCS, 0]);
    assert.deepEqual(summary.from, { chroma: v1, weaviate: v1 });
    assert.equal(summary.to, v2);
    assert.ok(reads > 20, `the reader read ${reads} times`);
    // Each sink switched once, from version 1 to version 2, and never back.
    assert.deepEqual(seen, { chroma: ['1', '2'], weaviate: ['1', '2'] });

    // After the grace period the promotion workflow (on this version's workers) drops version 1 everywhere.
    await eventually(
      async () => {
        const history = await h.ledger.listIndexVersions(alias);
        return history.filter((v) => v.index === v1).every((v) => v.state === 'retired') ? true : undefined;
      },
      90_000,
      'version 1 retired',
    );
    for (const [name, sink] of sinks) {
      assert.equal(await sink.getAlias(alias), v2, name);
      await assert.rejects(sink.count(v1), `${name}: ${v1} is gone`);
    }
  });

  it('--abort halfway through a build cancels its run and removes its index and ledger rows; readers keep v2', async () => {
    const v2 = indexName(h.spec);
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 48, chunkOverlap: 0 } });
    const v3 = indexName(h.spec);
    const building = await h.client.startIngest(h.uri('corpus/'));
    await building.throttle(2);
    await eventually(async () => ((await building.progress()).ingested >= 5 ? true : undefined), 60_000, 'v3 half built');
    const { stdout } = await ingest(['reindex', '--abort', '--json']);
    const aborted = JSON.parse(stdout) as { cancelledRuns: string[]; sinks: Record<string, string>; ledgerRows: number };
    assert.deepEqual(aborted.cancelledRuns, [building.workflowId]);
    assert.deepEqual(aborted.sinks, { chroma: 'dropped', weaviate: 'dropped' });
    assert.ok(aborted.ledgerRows >= 5);
    assert.deepEqual((await h.ledger.list({ tenant: h.spec.tenant })).records, []);
    for (const [name, sink] of sinks) {
      assert.equal(await sink.getAlias(alias), v2, name);
      await assert.rejects(sink.count(v3), `${name}: ${v3} is gone`);
      assert.ok((await sink.count(v2, { tenant: h.spec.tenant })) > 0);
    }
    const history = await h.ledger.listIndexVersions(alias);
    assert.ok(history.filter((v) => v.index === v3).every((v) => v.state === 'retired'));
  });

  it('--abort of the version readers see is refused (that is a rollback)', async () => {
    h.spec = { ...h.spec, version: 2 };
    const refused = await ingest(['reindex', '--abort']).then(
      () => assert.fail('abort of the live version succeeded'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /readers already see .*-v2 in chroma, weaviate: roll the promotion back/);
  });
});
