import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import {
  DocStatus,
  type DocumentRecord,
  type IndexState,
  type IndexVersionRecord,
  type Ledger,
  type LedgerQuery,
  type LedgerScope,
  type SinkState,
} from './ledger.ts';

export const SqliteLedgerConfig = z.object({
  /** The database file; several worker processes of one host may share it. */
  path: z.string().min(1),
  /** How long a writer waits for another process's write lock before giving up (then the activity retries). */
  busyTimeoutMs: z.number().int().min(0).default(10_000),
});
export type SqliteLedgerConfig = z.input<typeof SqliteLedgerConfig>;

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** Applied in order, each once; `schema_version` holds how many ran. Append, never edit, once released. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE documents (
     tenant TEXT NOT NULL,
     source_uri TEXT NOT NULL,
     status TEXT NOT NULL,
     content_hash TEXT,
     pipeline_version TEXT,
     chunk_ids TEXT NOT NULL,
     sinks TEXT NOT NULL,
     last_error_type TEXT,
     last_error_message TEXT,
     source_version TEXT,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (tenant, source_uri)
   ) WITHOUT ROWID;
   -- The primary key serves tenant + source prefix; these serve status filters and prefixes across tenants.
   CREATE INDEX documents_tenant_status ON documents (tenant, status, source_uri);
   CREATE INDEX documents_source_uri ON documents (source_uri, tenant);`,
  // Blue/green index versions; seq keeps the order a version was first recorded in across replaces.
  `CREATE TABLE index_versions (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     alias TEXT NOT NULL,
     sink TEXT NOT NULL,
     index_name TEXT NOT NULL,
     state TEXT NOT NULL,
     chunks INTEGER,
     promoted_at TEXT,
     retire_after TEXT,
     updated_at TEXT NOT NULL,
     UNIQUE (alias, sink, index_name)
   );
   CREATE INDEX documents_pipeline_version ON documents (pipeline_version, status);`,
  // Identity is (pipeline, version, tenant, uri). Rows written before this have no pipeline: they get '' and the
  // version their stamp names, and the first pipeline that opens the ledger adopts them (see adoptLegacyRows).
  `CREATE TABLE documents_v3 (
     pipeline TEXT NOT NULL,
     version INTEGER NOT NULL,
     tenant TEXT NOT NULL,
     source_uri TEXT NOT NULL,
     status TEXT NOT NULL,
     content_hash TEXT,
     pipeline_version TEXT,
     chunk_ids TEXT NOT NULL,
     sinks TEXT NOT NULL,
     last_error_type TEXT,
     last_error_message TEXT,
     source_version TEXT,
     event_at TEXT,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (pipeline, version, tenant, source_uri)
   ) WITHOUT ROWID;
   INSERT INTO documents_v3
     SELECT '', coalesce(CAST(pipeline_version AS INTEGER), 0), tenant, source_uri, status, content_hash, pipeline_version,
       chunk_ids, sinks, last_error_type, last_error_message, source_version, NULL, updated_at
     FROM documents;
   DROP TABLE documents;
   ALTER TABLE documents_v3 RENAME TO documents;
   CREATE INDEX documents_tenant_status ON documents (pipeline, version, tenant, status, source_uri);
   CREATE INDEX documents_source_uri ON documents (pipeline, version, source_uri, tenant);
   CREATE INDEX documents_pipeline_version ON documents (pipeline, version, pipeline_version, status);`,
];

interface Row {
  tenant: string;
  source_uri: string;
  status: string;
  content_hash: string | null;
  pipeline_version: string | null;
  chunk_ids: string;
  sinks: string;
  last_error_type: string | null;
  last_error_message: string | null;
  source_version: string | null;
  event_at: string | null;
  updated_at: string;
}

interface VersionRow {
  alias: string;
  sink: string;
  index_name: string;
  state: string;
  chunks: number | null;
  promoted_at: string | null;
  retire_after: string | null;
  updated_at: string;
}

const COLUMNS =
  'tenant, source_uri, status, content_hash, pipeline_version, chunk_ids, sinks, last_error_type, last_error_message, source_version, event_at, updated_at';
/** Every statement on documents is confined to the view's (pipeline, version). */
const SCOPE = 'pipeline = ? AND version = ?';

function fromRow(r: Row): DocumentRecord {
  return {
    tenant: r.tenant,
    sourceUri: r.source_uri,
    status: r.status as DocStatus,
    contentHash: r.content_hash,
    pipelineVersion: r.pipeline_version,
    chunkIds: JSON.parse(r.chunk_ids) as string[],
    sinks: JSON.parse(r.sinks) as Record<string, SinkState>,
    lastError: r.last_error_type === null ? null : { type: r.last_error_type, message: r.last_error_message ?? '' },
    sourceVersion: r.source_version,
    eventAt: r.event_at,
    updatedAt: r.updated_at,
  };
}

/**
 * The smallest string greater than every string starting with `prefix`, in SQLite's BINARY (UTF-8 byte) order, which
 * is code point order: bump the last code point. Lets a prefix filter be an index range instead of a table scan.
 */
function prefixUpperBound(prefix: string): string | undefined {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const cp = cps.pop()!.codePointAt(0)!;
    if (cp < 0x10ffff) return cps.join('') + String.fromCodePoint(cp + 1 === 0xd800 ? 0xe000 : cp + 1);
  }
  return undefined;
}

function encodeCursor(r: DocumentRecord): string {
  return Buffer.from(JSON.stringify([r.tenant, r.sourceUri])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw new ConnectorError(FailureType.InvalidInput, `invalid ledger cursor ${JSON.stringify(cursor)}`);
}

/** Lock contention and disk trouble pass; anything else is a bug or a corrupt file and is left as it is. */
export function mapSqliteError(err: unknown, what: string): unknown {
  const primary = ((err as { errcode?: number }).errcode ?? -1) & 0xff;
  // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
  if ([5, 6, 10, 13, 14].includes(primary)) {
    return new ConnectorError(FailureType.Unavailable, `${what}: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/** Opens `path` for several processes at once: WAL, a busy timeout, and the migrations run under a write lock. */
export function openSqlite(
  path: string,
  busyTimeoutMs: number,
  migrations: readonly string[],
  versionTable: string,
): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  try {
    // Readers never block the one writer in WAL mode; NORMAL sync is durable across process crashes in WAL.
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    inTransaction(db, () => {
      db.exec(`CREATE TABLE IF NOT EXISTS ${versionTable} (version INTEGER NOT NULL)`);
      const row = db.prepare(`SELECT version FROM ${versionTable}`).get() as { version: number } | undefined;
      const current = row?.version ?? 0;
      if (current > migrations.length) {
        throw new ConnectorError(FailureType.InvalidInput, `${path} has schema version ${current}, newer than this code knows`);
      }
      for (let v = current; v < migrations.length; v++) db.exec(migrations[v]!);
      if (row === undefined) db.prepare(`INSERT INTO ${versionTable} (version) VALUES (?)`).run(migrations.length);
      else if (current < migrations.length) db.prepare(`UPDATE ${versionTable} SET version = ?`).run(migrations.length);
    });
  } catch (err) {
    db.close();
    throw mapSqliteError(err, `cannot open ${path}`);
  }
  return db;
}

/** Runs `fn` holding the write lock from the start, so a read-modify-write cannot interleave with another writer's. */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/** The embedded ledger: one SQLite file per host, shared by its worker processes and by every pipeline using it. */
export function createSqliteLedger(config: SqliteLedgerConfig, scope: LedgerScope): Ledger {
  const c = SqliteLedgerConfig.parse(config);
  const db = openSqlite(c.path, c.busyTimeoutMs, MIGRATIONS, 'schema_version');
  const state = { closed: false };
  try {
    adoptLegacyRows(db, scope);
  } catch (err) {
    db.close();
    throw mapSqliteError(err, `cannot open ${c.path}`);
  }
  const views = new Map<number, Ledger>();
  const view = (version: number): Ledger => {
    let v = views.get(version);
    if (!v) views.set(version, (v = sqliteView(db, c.path, { pipeline: scope.pipeline, version }, state, view)));
    return v;
  };
  const main = view(scope.version);
  return {
    ...main,
    async close() {
      if (state.closed) return;
      state.closed = true;
      db.close();
    },
  };
}

/**
 * Rows from before identity carried the pipeline (migration 3) belong to whichever pipeline used the file then: the
 * first pipeline to open it adopts them. A row that never got a stamp (failed before its first ingest) joins the
 * opening version.
 */
function adoptLegacyRows(db: DatabaseSync, scope: LedgerScope): void {
  inTransaction(db, () =>
    db
      .prepare("UPDATE documents SET pipeline = ?, version = CASE WHEN version = 0 THEN ? ELSE version END WHERE pipeline = ''")
      .run(scope.pipeline, scope.version),
  );
}

function sqliteView(
  db: DatabaseSync,
  path: string,
  scope: LedgerScope,
  state: { closed: boolean },
  forVersion: (version: number) => Ledger,
): Ledger {
  const sc = [scope.pipeline, scope.version] as const;
  const getStmt = db.prepare(`SELECT ${COLUMNS} FROM documents WHERE ${SCOPE} AND tenant = ? AND source_uri = ?`);
  const putStmt = db.prepare(
    `INSERT OR REPLACE INTO documents (pipeline, version, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const sinksStmt = db.prepare(`SELECT sinks FROM documents WHERE ${SCOPE} AND tenant = ? AND source_uri = ?`);
  const setSinksStmt = db.prepare(`UPDATE documents SET sinks = ? WHERE ${SCOPE} AND tenant = ? AND source_uri = ?`);
  const listStmts = new Map<string, StatementSync>();
  const totalsStmt = db.prepare(
    `SELECT count(*) AS documents, coalesce(sum(json_array_length(chunk_ids)), 0) AS chunks FROM documents
     WHERE ${SCOPE} AND pipeline_version = ? AND (? IS NULL OR tenant = ?)
       AND status IN ('${DocStatus.ingested}', '${DocStatus.unchanged}')`,
  );
  const countsStmt = db.prepare(
    `SELECT status, count(*) AS n FROM documents WHERE ${SCOPE} AND (? IS NULL OR tenant = ?) GROUP BY status`,
  );
  const versionsStmt = db.prepare(
    'SELECT alias, sink, index_name, state, chunks, promoted_at, retire_after, updated_at FROM index_versions WHERE alias = ? ORDER BY seq',
  );
  const deleteTenantStmt = db.prepare(`DELETE FROM documents WHERE ${SCOPE} AND tenant = ?`);
  const putVersionStmt = db.prepare(
    `INSERT INTO index_versions (alias, sink, index_name, state, chunks, promoted_at, retire_after, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (alias, sink, index_name) DO UPDATE SET state = excluded.state, chunks = excluded.chunks,
       promoted_at = excluded.promoted_at, retire_after = excluded.retire_after, updated_at = excluded.updated_at`,
  );

  function run<T>(what: string, fn: () => T): T {
    if (state.closed) throw new ConnectorError(FailureType.InvalidInput, `${what}: ledger ${path} is closed`);
    try {
      return fn();
    } catch (err) {
      throw mapSqliteError(err, `${what} (${path})`);
    }
  }

  return {
    scope,
    forVersion,

    async get(tenant, sourceUri) {
      return run('ledger get', () => {
        const row = getStmt.get(...sc, tenant, sourceUri) as Row | undefined;
        return row && fromRow(row);
      });
    },

    async put(r) {
      run('ledger put', () =>
        putStmt.run(
          ...sc,
          r.tenant,
          r.sourceUri,
          r.status,
          r.contentHash,
          r.pipelineVersion,
          JSON.stringify(r.chunkIds),
          JSON.stringify(r.sinks),
          r.lastError?.type ?? null,
          r.lastError?.message ?? null,
          r.sourceVersion,
          r.eventAt,
          r.updatedAt,
        ),
      );
    },

    async setSinkState(tenant, sourceUri, sink, sinkState) {
      run('ledger setSinkState', () =>
        inTransaction(db, () => {
          const row = sinksStmt.get(...sc, tenant, sourceUri) as { sinks: string } | undefined;
          if (!row) throw new ConnectorError(FailureType.NotFound, `ledger has no document ${tenant}/${sourceUri}`);
          const sinks = JSON.parse(row.sinks) as Record<string, SinkState>;
          sinks[sink] = sinkState;
          setSinksStmt.run(JSON.stringify(sinks), ...sc, tenant, sourceUri);
        }),
      );
    },

    async list(q: LedgerQuery) {
      const limit = Math.min(Math.max(Math.trunc(q.limit ?? DEFAULT_PAGE), 1), MAX_PAGE);
      const where: string[] = [SCOPE];
      const params: SQLInputValue[] = [...sc];
      if (q.tenant !== undefined) {
        where.push('tenant = ?');
        params.push(q.tenant);
      }
      if (q.status !== undefined) {
        where.push('status = ?');
        params.push(q.status);
      }
      if (q.sourcePrefix) {
        where.push('source_uri >= ?');
        params.push(q.sourcePrefix);
        const upper = prefixUpperBound(q.sourcePrefix);
        if (upper !== undefined) {
          where.push('source_uri < ?');
          params.push(upper);
        }
      }
      if (q.after !== undefined) {
        where.push('(tenant, source_uri) > (?, ?)');
        params.push(...decodeCursor(q.after));
      }
      const sql = `SELECT ${COLUMNS} FROM documents WHERE ${where.join(' AND ')} ORDER BY tenant, source_uri LIMIT ?`;
      return run('ledger list', () => {
        let stmt = listStmts.get(sql);
        if (!stmt) listStmts.set(sql, (stmt = db.prepare(sql)));
        // One extra row says whether another page exists without a second query.
        const rows = stmt.all(...params, limit + 1) as unknown as Row[];
        const records = rows.slice(0, limit).map(fromRow);
        return rows.length > limit ? { records, next: encodeCursor(records[records.length - 1]!) } : { records };
      });
    },

    async counts(tenant) {
      return run('ledger counts', () => {
        const t = tenant ?? null;
        const rows = countsStmt.all(...sc, t, t) as unknown as Array<{ status: string; n: number }>;
        const out = Object.fromEntries(Object.values(DocStatus).map((s) => [s, 0])) as Record<DocStatus, number>;
        for (const r of rows) if (r.status in out) out[r.status as DocStatus] = r.n;
        return out;
      });
    },

    async totals(pipelineVersion, tenant) {
      return run('ledger totals', () => {
        const t = tenant ?? null;
        const r = totalsStmt.get(...sc, pipelineVersion, t, t) as { documents: number; chunks: number };
        return { documents: r.documents, chunks: r.chunks };
      });
    },

    async deleteTenant(tenant) {
      return run('ledger deleteTenant', () => Number(deleteTenantStmt.run(...sc, tenant).changes));
    },

    async listIndexVersions(alias) {
      return run('ledger listIndexVersions', () =>
        (versionsStmt.all(alias) as unknown as VersionRow[]).map((r) => ({
          alias: r.alias,
          sink: r.sink,
          index: r.index_name,
          state: r.state as IndexState,
          chunks: r.chunks,
          promotedAt: r.promoted_at,
          retireAfter: r.retire_after,
          updatedAt: r.updated_at,
        })),
      );
    },

    async putIndexVersion(v: IndexVersionRecord) {
      run('ledger putIndexVersion', () =>
        putVersionStmt.run(v.alias, v.sink, v.index, v.state, v.chunks, v.promotedAt, v.retireAfter, v.updatedAt),
      );
    },

    // A view over another version shares the database: the ledger that opened it closes it.
    async close() {},
  };
}
