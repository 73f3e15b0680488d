import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliEnv, Harness } from '../e2e/support.ts';
import { startCliProcess, stopProcess } from '../support/cli-process.ts';

const DOCS = 200;
/** `ingest worker` as its own process, like an operator runs it. */
const startWorkerProcess = (specFile: string) => startCliProcess(['--pipeline', specFile, 'worker'], 'is polling', cliEnv());

describe('a worker SIGKILLed in the middle of a run', () => {
  const h = new Harness({ concurrency: { documents: 8, pageSize: 50 } });
  let specFile: string;
  let worker: ChildProcess | undefined;

  before(async () => {
    await h.start({ workers: false });
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    for (let i = 0; i < DOCS; i++) {
      const words = Array.from({ length: 20 + (i % 7) * 25 }, (_, k) => `word${(i * 31 + k) % 997}`).join(' ');
      await h.put(`many/doc-${String(i).padStart(3, '0')}.txt`, `Document ${i}. ${words}.`);
    }
  });
  after(async () => {
    if (worker) await stopProcess(worker, 'SIGKILL');
    await h.stop();
  });

  it('completes after a restart, with exactly the expected chunks in the sink and a ledger that agrees', async () => {
    worker = await startWorkerProcess(specFile);
    const handle = await h.client.startIngest(`s3://${h.bucket}/`);
    // Kill at a random point once the run is well under way (some documents done, many still to go).
    const target = 10 + Math.floor(Math.random() * 60);
    let seen = 0;
    while (seen < target) {
      seen = (await handle.progress().catch(() => undefined))?.ingested ?? seen;
      await new Promise((r) => setTimeout(r, 100));
    }
    await stopProcess(worker, 'SIGKILL');
    assert.ok(seen < DOCS, `the kill happened mid-run (after ${seen} of ${DOCS} documents)`);

    worker = await startWorkerProcess(specFile);
    const counts = await handle.result();
    assert.equal(counts.listed, DOCS);
    assert.equal(counts.failed, 0);
    assert.equal(counts.ingested + counts.unchanged, DOCS);

    let expected = 0;
    for (let i = 0; i < DOCS; i++) {
      const key = `many/doc-${String(i).padStart(3, '0')}.txt`;
      const rec = await h.ledger.get(h.spec.tenant, h.uri(key));
      assert.equal(rec?.status, 'ingested', key);
      assert.deepEqual(await h.sinkIds(key), [...rec.chunkIds].sort(), key);
      expected += rec.chunkIds.length;
    }
    assert.equal(await h.sink.count(h.index, { tenant: h.spec.tenant }), expected, 'no duplicates, nothing missing');
  });
});
