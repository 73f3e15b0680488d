import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { DocStatus, type DocumentRecord } from './ledger.ts';
import { createSqliteLedger } from './sqlite.ts';

/** The pipeline version these ledgers are views of. */
const TEST_SCOPE = { pipeline: 'test', version: 1 };

function record(tenant: string, sourceUri: string): DocumentRecord {
  return {
    tenant,
    sourceUri,
    status: DocStatus.processing,
    contentHash: null,
    pipelineVersion: null,
    chunkIds: [],
    sinks: {},
    lastError: null,
    sourceVersion: null,
    eventAt: null,
    updatedAt: '2025-01-01T00:00:00.000Z',
  };
}

describe('SQLite ledger', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'ragline-sqlite-ledger-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('creates its schema once, in WAL mode, and keeps data across reopening', async () => {
    const path = join(dir, 'schema', 'ledger.db');
    const first = createSqliteLedger({ path }, TEST_SCOPE);
    await first.put(record('t', 'a'));
    await first.close();
    const again = createSqliteLedger({ path }, TEST_SCOPE);
    assert.deepEqual(await again.get('t', 'a'), record('t', 'a'));
    await again.close();

    const raw = new DatabaseSync(path, { readOnly: true });
    try {
      assert.deepEqual({ ...raw.prepare('PRAGMA journal_mode').get() }, { journal_mode: 'wal' });
      assert.deepEqual(
        raw
          .prepare('SELECT version FROM schema_version')
          .all()
          .map((r) => r.version),
        [3],
      );
      const indexes = raw.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'documents'").all();
      assert.ok(indexes.some((r) => r.name === 'documents_tenant_status'));
      assert.ok(indexes.some((r) => r.name === 'documents_source_uri'));
    } finally {
      raw.close();
    }
  });

  it('migrates a schema-2 file in place: rows keep their data, take the version of their stamp, and the first pipeline to open adopts them', async () => {
    const path = join(dir, 'legacy.db');
    const raw = new DatabaseSync(path);
    // Schema 2 exactly as released: documents keyed by (tenant, source_uri), index_versions.
    raw.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);
      CREATE TABLE documents (tenant TEXT NOT NULL, source_uri TEXT NOT NULL, status TEXT NOT NULL, content_hash TEXT,
        pipeline_version TEXT, chunk_ids TEXT NOT NULL, sinks TEXT NOT NULL, last_error_type TEXT, last_error_message TEXT,
        source_version TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (tenant, source_uri)) WITHOUT ROWID;
      CREATE INDEX documents_tenant_status ON documents (tenant, status, source_uri);
      CREATE INDEX documents_source_uri ON documents (source_uri, tenant);
      CREATE TABLE index_versions (seq INTEGER PRIMARY KEY AUTOINCREMENT, alias TEXT NOT NULL, sink TEXT NOT NULL,
        index_name TEXT NOT NULL, state TEXT NOT NULL, chunks INTEGER, promoted_at TEXT, retire_after TEXT,
        updated_at TEXT NOT NULL, UNIQUE (alias, sink, index_name));
      CREATE INDEX documents_pipeline_version ON documents (pipeline_version, status);
      INSERT INTO documents VALUES ('t', 'file:///a', 'ingested', 'h1', '2+abc', '["c1","c2"]', '{"chroma":{"state":"ok","updatedAt":"x"}}', NULL, NULL, 'etag-a', '2025-01-01');
      INSERT INTO documents VALUES ('t', 'file:///b', 'failed', NULL, NULL, '[]', '{}', 'CorruptDocument', 'bad', NULL, '2025-01-01');
      INSERT INTO index_versions (alias, sink, index_name, state, updated_at) VALUES ('p', 'chroma', 'p-v2', 'current', '2025-01-01');`);
    raw.close();

    const v3 = createSqliteLedger({ path }, { pipeline: 'p', version: 3 });
    const v2 = v3.forVersion(2);
    assert.deepEqual(await v2.get('t', 'file:///a'), {
      tenant: 't',
      sourceUri: 'file:///a',
      status: 'ingested',
      contentHash: 'h1',
      pipelineVersion: '2+abc',
      chunkIds: ['c1', 'c2'],
      sinks: { chroma: { state: 'ok', updatedAt: 'x' } },
      lastError: null,
      sourceVersion: 'etag-a',
      eventAt: null,
      updatedAt: '2025-01-01',
    });
    // Never stamped (it failed before its first ingest): it joins the version that opened the ledger.
    assert.equal((await v3.get('t', 'file:///b'))?.lastError?.type, 'CorruptDocument');
    assert.equal(await v2.get('t', 'file:///b'), undefined);
    assert.equal((await v3.listIndexVersions('p'))[0]?.index, 'p-v2');
    await v3.close();
    // Adopted once: another pipeline opening the file later sees none of them.
    const other = createSqliteLedger({ path }, { pipeline: 'q', version: 2 });
    assert.equal(await other.get('t', 'file:///a'), undefined);
    await other.close();
  });

  it('refuses a file whose schema is newer than this code', () => {
    const path = join(dir, 'newer.db');
    createSqliteLedger({ path }, TEST_SCOPE).close();
    const raw = new DatabaseSync(path);
    raw.exec('UPDATE schema_version SET version = 99');
    raw.close();
    assert.throws(
      () => createSqliteLedger({ path }, TEST_SCOPE),
      (err: unknown) => err instanceof ConnectorError && err.type === FailureType.InvalidInput && /99/.test(err.message),
    );
  });

  it('prefix filters are exact at code point boundaries', async () => {
    const ledger = createSqliteLedger({ path: join(dir, 'prefix.db') }, TEST_SCOPE);
    const uris = [
      'a',
      'a\u{D7FF}',
      'a\u{D7FF}x',
      'a\u{E000}',
      'a\u{FFFF}x',
      'a\u{10000}',
      'a\u{10FFFF}',
      'a\u{10FFFF}b',
      'b',
      '_a%',
    ];
    for (const u of uris) await ledger.put(record('t', u));
    const list = async (sourcePrefix: string) =>
      (await ledger.list({ tenant: 't', sourcePrefix })).records.map((r) => r.sourceUri);
    assert.deepEqual(await list('a'), uris.slice(0, 8));
    assert.deepEqual(await list('a\u{D7FF}'), ['a\u{D7FF}', 'a\u{D7FF}x']);
    assert.deepEqual(await list('a\u{10FFFF}'), ['a\u{10FFFF}', 'a\u{10FFFF}b']);
    assert.deepEqual(await list('\u{10FFFF}'), []);
    assert.deepEqual(await list('_'), ['_a%']);
    await ledger.close();
  });

  it('a write lock held past the busy timeout is Unavailable and retryable', async () => {
    const path = join(dir, 'busy.db');
    const ledger = createSqliteLedger({ path, busyTimeoutMs: 20 }, TEST_SCOPE);
    await ledger.put(record('t', 'doc'));
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      await assert.rejects(
        ledger.setSinkState('t', 'doc', 's', { state: 'ok', updatedAt: 'now' }),
        (err: unknown) => err instanceof ConnectorError && err.type === FailureType.Unavailable && err.retryable,
      );
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    // The failed attempt left no transaction open: the next call goes through.
    await ledger.setSinkState('t', 'doc', 's', { state: 'ok', updatedAt: 'now' });
    assert.deepEqual((await ledger.get('t', 'doc'))?.sinks, { s: { state: 'ok', updatedAt: 'now' } });
    await ledger.close();
  });

  it('worker processes updating different sinks of one document at once lose nothing', async () => {
    const path = join(dir, 'processes.db');
    const ledger = createSqliteLedger({ path }, TEST_SCOPE);
    await ledger.put(record('t', 'doc'));
    const rounds = 500;
    // Each child opens the ledger, says "ready", and starts writing only when told "go", so the writers overlap.
    const script = `
      const { createSqliteLedger } = await import(${JSON.stringify(new URL('./sqlite.ts', import.meta.url).href)});
      const [path, sink] = process.argv.slice(-2);
      const ledger = createSqliteLedger({ path }, ${JSON.stringify(TEST_SCOPE)});
      process.stdout.write('ready\\n');
      await new Promise((r) => process.stdin.once('data', r));
      for (let i = 1; i <= ${rounds}; i++) await ledger.setSinkState('t', 'doc', sink, { state: 'ok', upserted: i, updatedAt: String(i) });
      await ledger.close();
      process.exit(0);`;
    const children = ['s1', 's2', 's3'].map((sink) =>
      spawn(process.execPath, ['--input-type=module', '--eval', script, '--', path, sink], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const exited = children.map(
      (c) =>
        new Promise<void>((res, rej) => c.on('exit', (code) => (code === 0 ? res() : rej(new Error(`worker exited ${code}`))))),
    );
    await Promise.all(children.map((c) => once(c.stdout!, 'data')));
    for (const c of children) c.stdin!.end('go\n');
    await Promise.all(exited);
    const done = { state: 'ok', upserted: rounds, updatedAt: String(rounds) };
    assert.deepEqual((await ledger.get('t', 'doc'))?.sinks, { s1: done, s2: done, s3: done });
    await ledger.close();
  });

  it('a closed ledger refuses calls; closing twice is fine', async () => {
    const ledger = createSqliteLedger({ path: join(dir, 'closed.db') }, TEST_SCOPE);
    await ledger.close();
    await ledger.close();
    await assert.rejects(
      ledger.get('t', 'x'),
      (err: unknown) => err instanceof ConnectorError && err.type === FailureType.InvalidInput,
    );
  });
});
