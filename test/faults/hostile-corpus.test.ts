import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { RunSummary } from '../../cli/commands/run.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { indexAlias, indexName, validatePipelineSpec, type PipelineSpec } from '../../pipeline/spec.ts';
import { cliEnv } from '../e2e/support.ts';
import { buildHostileCorpus, type HostileFile } from '../support/hostile-corpus.ts';
import { stack, uniqueName } from '../support/stack.ts';

const root = join(import.meta.dirname, '..', '..');
/**
 * The bound on the resident memory of each worker process, whatever the input: the `ingest run` process (workflows,
 * parsing, chunking, sink writes) and the embed worker it starts beside it for the local model. Before the model moved
 * to a process of its own, the one process peaked at 530-676 MB on this corpus (819 MB before the parse threads, the
 * SQLite thread and the DOCX limits were bounded).
 */
const MAX_PEAK_RSS_MB = 500;

interface StatusJson {
  documents: { sourceUri: string; status: string; chunks: number; error: { type: string; message: string } | null }[];
}

/** `ingest --pipeline FILE run --source DIR --json`, its exit, and the peak RSS seen from outside (VmHWM, polled). */
async function ingestRun(specFile: string, dir: string) {
  const child = spawn(
    process.execPath,
    [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'run', '--source', dir, '--json'],
    {
      cwd: root,
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let polledPeakMb = 0;
  const poll = setInterval(() => {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      if (kb) polledPeakMb = Math.max(polledPeakMb, Number(kb) / 1024);
    } catch {
      // exited between two polls
    }
  }, 100);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (c, s) => resolve([c, s])),
  );
  clearInterval(poll);
  return { code, signal, stdout, stderr, polledPeakMb };
}

describe('a folder of hostile inputs through the real `ingest run` CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ragline-hostile-'));
  const corpusDir = join(dataDir, 'corpus');
  const specFile = join(dataDir, 'pipeline.json');
  let spec: PipelineSpec;
  let files: HostileFile[];

  before(async () => {
    files = await buildHostileCorpus(corpusDir);
    // The embedded default pipeline (recursive chunker, local model, Chroma), under a name and tenant of its own.
    spec = validatePipelineSpec({
      name: uniqueName('hostile').slice(0, 30),
      version: 1,
      tenant: uniqueName('tenant'),
      chunker: { kind: 'recursive', chunkSize: 240, chunkOverlap: 24 },
      embedder: { kind: 'local-onnx' },
      sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
      blobStore: { kind: 'local-dir', root: join(dataDir, 'blobs') },
      ledger: { kind: 'sqlite', path: join(dataDir, 'ledger.sqlite') },
    });
    writeFileSync(specFile, JSON.stringify(spec));
  });

  after(async () => {
    for (const [, sink] of await createSinks(spec)) {
      await sink.deleteAlias(indexAlias(spec)).catch(() => undefined);
      await sink.dropIndex(indexName(spec)).catch(() => undefined);
      await sink.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    'ends every file as ingested or failed with its expected type, in one process that stays alive and small',
    { timeout: 900_000 },
    async (t) => {
      const kinds = new Set(files.map((f) => f.kind));
      assert.ok(kinds.size >= 40, `${kinds.size} kinds`);

      const run = await ingestRun(specFile, corpusDir);
      // Exit code 2: the run finished and some documents failed (1 would be an error, a signal a crash or an OOM kill).
      assert.equal(run.signal, null, `killed by ${run.signal}: ${run.stderr.slice(-2000)}`);
      assert.equal(run.code, 2, run.stderr.slice(-2000));
      const summary = JSON.parse(run.stdout) as RunSummary;

      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'status', '--json'],
        { cwd: root, env: cliEnv(), maxBuffer: 64 * 1024 * 1024 },
      );
      const rows = new Map((JSON.parse(stdout) as StatusJson).documents.map((d) => [d.sourceUri, d]));
      const outcomes: Record<string, string> = {};
      for (const f of files) {
        const row = rows.get(pathToFileURL(join(corpusDir, f.path)).href);
        rows.delete(pathToFileURL(join(corpusDir, f.path)).href);
        const got = !row ? 'skipped' : row.status === 'ingested' ? 'ok' : row.status === 'failed' ? row.error?.type : row.status;
        outcomes[f.path] = `${got}${row?.error ? `: ${row.error.message}` : ''}`;
        assert.equal(got, f.expected, `${JSON.stringify(f.path)}: ${outcomes[f.path]}`);
        if (f.expected === 'ok') assert.ok(row!.chunks > 0, `${f.path} has chunks`);
      }
      assert.deepEqual([...rows.keys()], [], 'no document the corpus did not make');

      const expectedOk = files.filter((f) => f.expected === 'ok').length;
      const expectedFailed = files.filter((f) => f.expected !== 'ok' && f.expected !== 'skipped').length;
      assert.deepEqual(summary.documents, { ingested: expectedOk, unchanged: 0, deleted: 0, failed: expectedFailed });

      const peakMb = Math.max(run.polledPeakMb, summary.worker?.peakRssMb ?? 0);
      t.diagnostic(
        JSON.stringify({
          kinds: kinds.size,
          files: files.length,
          chunks: summary.chunks,
          peak_rss_mb_reported: summary.worker?.peakRssMb,
          peak_rss_mb_polled: Math.round(run.polledPeakMb),
          embed_peak_rss_mb: summary.worker?.embedPeakRssMb,
        }),
      );
      assert.ok(summary.worker, 'the run reports its in-process worker');
      assert.ok(peakMb < MAX_PEAK_RSS_MB, `the process running the ingest worker peaked at ${peakMb.toFixed(0)} MB`);
      // The kernel's high-water mark of the embed worker, read by its parent just before it stopped it.
      const embedMb = summary.worker.embedPeakRssMb;
      assert.ok(embedMb !== undefined, 'the run reports its embed worker process');
      assert.ok(embedMb < MAX_PEAK_RSS_MB, `the embed worker peaked at ${embedMb} MB`);
    },
  );
});
