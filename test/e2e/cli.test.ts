import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { RunSummary } from '../../cli/commands/run.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

/** `ingest --pipeline FILE <args>` as a user runs it; returns its stdout. */
async function ingest(specFile: string, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, ...args], {
    cwd: root,
    env: cliEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

const paragraph = (i: number): string =>
  `Paragraph ${i} of the handbook. Workers retry failed activities with backoff, and the ledger records every ` +
  `document's content hash so unchanged documents are skipped on the next run. Section ${i} ends here.`;

describe('ingest run --json (the CLI on the real stack)', () => {
  const h = new Harness();
  let specFile: string;

  before(async () => {
    await h.start({ workers: false });
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    for (let d = 0; d < 3; d++) {
      await h.put(`docs/d${d}.md`, Array.from({ length: 6 }, (_, i) => paragraph(d * 10 + i)).join('\n\n'));
    }
  });
  after(() => h.stop());

  it('prints the summary object, then a re-run changes nothing, then an edit is served mostly from the cache', async () => {
    const first = JSON.parse(await ingest(specFile, ['run', '--source', `s3://${h.bucket}/docs/`, '--json'])) as RunSummary;
    assert.deepEqual(first.documents, { ingested: 3, unchanged: 0, deleted: 0, failed: 0 });
    assert.ok(first.chunks >= 6, `chunks ${first.chunks}`);
    assert.deepEqual(first.sinks, { chroma: { upserted: first.chunks, count: first.chunks } });
    assert.deepEqual(first.embeddings, { hits: 0, misses: first.chunks, hitRate: 0 });

    const again = JSON.parse(await ingest(specFile, ['run', '--source', `s3://${h.bucket}/docs/`, '--json'])) as RunSummary;
    assert.deepEqual(again.documents, { ingested: 0, unchanged: 3, deleted: 0, failed: 0 });
    assert.equal(again.chunks, 0);
    assert.deepEqual(again.embeddings, { hits: 0, misses: 0, hitRate: 0 });

    // One new paragraph at the end: the chunks before it are the same text, so their vectors come from the cache.
    await h.put(`docs/d1.md`, Array.from({ length: 7 }, (_, i) => paragraph(10 + i)).join('\n\n'));
    const edited = JSON.parse(await ingest(specFile, ['run', '--source', `s3://${h.bucket}/docs/`, '--json'])) as RunSummary;
    assert.deepEqual(edited.documents, { ingested: 1, unchanged: 2, deleted: 0, failed: 0 });
    assert.ok(edited.embeddings.hits > 0 && edited.embeddings.misses > 0, JSON.stringify(edited.embeddings));
    assert.equal(edited.embeddings.hits + edited.embeddings.misses, edited.chunks);
    assert.equal(edited.embeddings.hitRate, +(edited.embeddings.hits / edited.chunks).toFixed(4));
    assert.equal(edited.sinks.chroma!.count, await h.sink.count(h.index, { tenant: h.spec.tenant }));

    const status = JSON.parse(await ingest(specFile, ['status', '--json'])) as unknown;
    assert.ok(JSON.stringify(status).includes(h.uri('docs/d1.md')), 'status lists the documents');

    const hits = JSON.parse(await ingest(specFile, ['search', 'how are unchanged documents skipped?', '--json'])) as {
      results?: { sourceUri?: string }[];
    };
    assert.ok(JSON.stringify(hits).includes(`s3://${h.bucket}/docs/`), JSON.stringify(hits).slice(0, 300));
  });
});
