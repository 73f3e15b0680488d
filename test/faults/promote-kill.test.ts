import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { indexAlias, indexName } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { cliEnv, Harness } from '../e2e/support.ts';
import { startCliProcess, stopProcess } from '../support/cli-process.ts';
import { stack } from '../support/stack.ts';

// A worker SIGKILLed in the middle of a promotion's alias switch (kill point promote.after-alias-switch: one sink's
// alias already points at the new version, the ledger still records the old one as current). Another worker picks
// the switch up: every alias ends on the new version, the ledger agrees, and the replaced version is still retired
// after the grace period (before the fix, the retried switch forgot which version it replaced and never dropped it).

describe('a worker killed during the promotion alias switch', () => {
  const h = new Harness({
    embedder: { kind: 'hash', dims: 64 },
    sinks: [
      { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
      { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
    ],
  });
  const alias = indexAlias(h.spec);
  let sinks: Map<string, Sink>;
  let worker: ChildProcess | undefined;

  before(async () => {
    sinks = await createSinks(h.spec);
    await h.start();
    for (let i = 0; i < 5; i++) await h.put(`p/doc-${i}.txt`, `Promotion note ${i}. `.repeat(40));
    assert.equal((await h.ingestAll('p/')).ingested, 5);
    await h.upgrade({ chunker: { kind: 'recursive', chunkSize: 48, chunkOverlap: 0 } });
    assert.equal((await h.ingestAll('p/')).ingested, 5);
    // From here on only worker processes of version 2 run.
    await h.workers?.shutdown();
    h.workers = undefined;
  });
  after(async () => {
    if (worker) await stopProcess(worker, 'SIGKILL');
    for (const [, sink] of sinks) {
      await sink.deleteAlias(alias).catch(() => undefined);
      for (const v of [1, 2]) await sink.dropIndex(indexName({ ...h.spec, version: v })).catch(() => undefined);
      await sink.close();
    }
    await h.stop();
  });

  it('ends with every alias on v2, the ledger agreeing, and v1 dropped after the grace period', async () => {
    const v1 = indexName({ ...h.spec, version: 1 });
    const v2 = indexName(h.spec);
    const specFile = join(h.dataDir, 'pipeline-v2.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    const marks = join(h.dataDir, 'kill-marks');
    mkdirSync(marks);
    const env = { ...cliEnv(), RAGLINE_KILL_AT: 'promote.after-alias-switch', RAGLINE_KILL_MARKS: marks };
    const start = () => startCliProcess(['--pipeline', specFile, 'worker', '--role', 'ingest'], 'is polling', env);

    worker = await start();
    const exited = new Promise<void>((resolve) => worker!.once('exit', () => resolve()));
    const promotion = await h.client.promote({ retireAfterMs: 3000 });
    await exited;
    // The window the kill left: one alias moved, the ledger still on v1.
    const moved = [];
    for (const [name, sink] of sinks) if ((await sink.getAlias(alias)) === v2) moved.push(name);
    // The sinks switch in parallel: the other sink's switch may have landed too before the process died.
    assert.ok(moved.length >= 1, 'a sink switched before the kill');
    const during = await h.ledger.listIndexVersions(alias);
    assert.ok(
      during.some((v) => v.index === v1 && v.state === 'current'),
      'the killed switch left its ledger record behind',
    );

    worker = await start();
    const done = await promotion.result();
    assert.equal(done.phase, 'done');
    for (const [name, sink] of sinks) {
      assert.equal(await sink.getAlias(alias), v2, name);
      assert.equal(await sink.hasIndex(v1), false, `${name}: ${v1} dropped after the grace period`);
      const hits = await sink.search(
        v2,
        Float32Array.from({ length: 64 }, (_, i) => i % 3),
        { topK: 3, tenant: h.spec.tenant },
      );
      assert.equal(hits.length, 3, name);
    }
    const history = await h.ledger.listIndexVersions(alias);
    assert.deepEqual(history.map((v) => [v.sink, v.index, v.state]).sort(), [
      ['chroma', v1, 'retired'],
      ['chroma', v2, 'current'],
      ['weaviate', v1, 'retired'],
      ['weaviate', v2, 'current'],
    ]);
  });
});
