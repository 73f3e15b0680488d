import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { RunSummary } from '../../cli/commands/run.ts';
import { documentKey } from '../../pipeline/ids.ts';
import { stack } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

const token = (what: string) => `${what}${randomBytes(12).toString('hex')}`;

// Planted in the documents' text: none may reach a log line (or any other output but the files themselves).
const markers = Array.from({ length: 4 }, (_, i) => token(`mk${i}x`));
// Planted as secrets the processes read: a sink token and the payload key ring, each through an environment
// variable the spec names, and another secret-looking variable nobody reads.
const chromaToken = token('chroma-token-');
const key = randomBytes(32);
const keyRing = `logs1:${key.toString('base64')}`;
const unusedKey = token('unused-api-key-');

const paragraph = (marker: string, i: number): string =>
  `Paragraph ${i}: the operator's handbook says ${marker} is the code word, and workers retry failed activities ` +
  `with backoff while the ledger records every document's hash. ${marker} ends section ${i}.`;

interface Line {
  level: string;
  msg: string;
  service?: string;
  workflowId?: string;
  runId?: string;
  docId?: string;
  sourceUri?: string;
  sink?: string;
  [k: string]: unknown;
}

describe('logs: a real run writes JSON lines with ids and never document text or secrets', () => {
  const h = new Harness({
    sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma, authToken: { env: 'RAGLINE_LOGS_CHROMA_TOKEN' } }],
    temporal: { encryption: { keys: { env: 'RAGLINE_LOGS_KEYS' } } },
  });
  let stdout = '';
  let stderr = '';
  let lines: Line[] = [];
  const docs = ['docs/a.md', 'docs/b.txt', 'docs/c.html'];

  before(async () => {
    // The test's own sink and client read the same secrets.
    process.env.RAGLINE_LOGS_CHROMA_TOKEN = chromaToken;
    process.env.RAGLINE_LOGS_KEYS = keyRing;
    await h.start({ workers: false });
    const specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    await h.put(docs[0]!, Array.from({ length: 5 }, (_, i) => paragraph(markers[0]!, i)).join('\n\n'));
    await h.put(docs[1]!, Array.from({ length: 5 }, (_, i) => paragraph(markers[1]!, i)).join('\n'));
    await h.put(docs[2]!, `<html><body><h1>${markers[2]}</h1><p>${paragraph(markers[2]!, 0)}</p></body></html>`);
    // A document that fails to parse, its bytes quoted nowhere: a PDF header followed by the marker.
    await h.put('docs/broken.pdf', `%PDF-1.7\n${markers[3]} ${markers[3]} obj << /Type /Catalog >>\n`);
    const env = {
      ...cliEnv(),
      RAGLINE_LOG_LEVEL: 'debug',
      RAGLINE_LOGS_CHROMA_TOKEN: chromaToken,
      RAGLINE_LOGS_KEYS: keyRing,
      RAGLINE_LOGS_UNUSED_API_KEY: unusedKey,
    };
    // Workers in the command's process (ingest) and in its child (the local model's embed worker): all of them log.
    const child = run(
      process.execPath,
      [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'run', '--source', `s3://${h.bucket}/docs/`, '--json'],
      { cwd: root, env, maxBuffer: 64 * 1024 * 1024 },
    );
    try {
      ({ stdout, stderr } = await child);
    } catch (err) {
      // Exit code 2: a document failed (the broken one); the output is still the run's.
      const e = err as { code?: number; stdout?: string; stderr?: string };
      assert.equal(e.code, 2, `ingest run failed: ${e.stderr?.slice(-3000)}`);
      stdout = e.stdout ?? '';
      stderr = e.stderr ?? '';
    }
    lines = stderr
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        try {
          return JSON.parse(l) as Line;
        } catch {
          assert.fail(`a line on stderr is not JSON: ${l.slice(0, 300)}`);
        }
      });
  });
  after(async () => {
    await h.dropIndexes().catch(() => undefined);
    await h.stop();
  });

  it('the run did its work, and stdout is only the --json summary', () => {
    const summary = JSON.parse(stdout) as RunSummary;
    assert.deepEqual(summary.documents, { ingested: 3, unchanged: 0, deleted: 0, failed: 1 });
    assert.equal(stdout.trim().split('\n').length, 1);
  });

  it('every stderr line is a JSON log record from a named process, with a level and a time', () => {
    assert.ok(lines.length > 20, `only ${lines.length} lines`);
    for (const l of lines) {
      assert.ok(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(l.level), JSON.stringify(l));
      assert.equal(typeof l.msg, 'string');
      assert.ok(typeof l.time === 'string' && !Number.isNaN(Date.parse(l.time)), JSON.stringify(l));
    }
    const services = new Set(lines.map((l) => l.service));
    assert.ok(services.has('ragline-cli'), [...services].join());
    assert.ok(services.has('ragline-worker-embed'), [...services].join());
  });

  it('lines carry workflow, run, document and sink ids', () => {
    for (const key of docs) {
      const uri = h.uri(key);
      const docId = documentKey(h.spec.tenant, uri);
      const mine = lines.filter((l) => l.sourceUri === uri);
      const ingested = mine.find((l) => l.msg === 'document ingested');
      assert.ok(ingested, `no 'document ingested' line for ${key}`);
      assert.equal(ingested.docId, docId);
      assert.match(ingested.workflowId ?? '', /^doc:/);
      assert.match(ingested.runId ?? '', /^[0-9a-f-]{36}$/);
      assert.ok(
        mine.some((l) => l.sink === 'chroma' && l.activityType === 'upsertToSink' && l.workflowId === ingested.workflowId),
        `no upsert line for ${key}`,
      );
      // The embed worker's lines name the document too (from its work folder).
      assert.ok(
        lines.some((l) => l.service === 'ragline-worker-embed' && l.activityType === 'embedChunks' && l.docId === docId),
        `no embed line for ${key}`,
      );
    }
    const failed = lines.find((l) => l.msg === 'document failed' && l.sourceUri === h.uri('docs/broken.pdf'));
    assert.ok(failed, 'the broken document is reported');
    assert.equal(failed.failureType, 'CorruptDocument');
    assert.ok(
      lines.some((l) => l.workflowType === 'sourceWorkflow' && l.runId),
      'source workflow lines',
    );
  });

  it('no document text and no secret appears in any output of any process', () => {
    const all = `${stdout}\n${stderr}`;
    for (const m of markers) assert.ok(!all.includes(m), `document text ${m} leaked into the output`);
    for (const [what, secret] of [
      ['chroma token', chromaToken],
      ['key ring', keyRing],
      ['key', key.toString('base64')],
      ['key (hex)', key.toString('hex')],
      ['key (bytes)', `[${[...key].join(',')}]`],
      ['unused api key', unusedKey],
      ['S3 secret key', stack.s3.secretKey],
    ] as const)
      assert.ok(!all.includes(secret), `the ${what} leaked into the output`);
    assert.ok(!/"text":|"vector":|"embedding":/.test(all), 'no chunk texts or vectors');
  });
});
