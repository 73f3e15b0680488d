import type pg from 'pg';
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
import { PostgresLedgerConfig } from './postgres.config.ts';
import { describe, lazyReady, mapPostgresError, migrate, openPool, quoteIdent } from './postgres-db.ts';

export { PostgresLedgerConfig };

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/**
 * Applied in order, each once (see migrate). Keys are COLLATE "C" so ordering, cursors and prefix ranges are by code
 * point whatever the database's default collation, as in SQLite. Timestamps stay text: records round-trip exactly.
 */
export const LEDGER_MIGRATIONS: readonly string[] = [
  `CREATE TABLE {schema}.documents (
     tenant text COLLATE "C" NOT NULL,
     source_uri text COLLATE "C" NOT NULL,
     status text NOT NULL,
     content_hash text,
     pipeline_version text,
     chunk_ids text[] NOT NULL,
     sinks jsonb NOT NULL,
     last_error_type text,
     last_error_message text,
     source_version text,
     updated_at text NOT NULL,
     PRIMARY KEY (tenant, source_uri)
   );
   CREATE INDEX documents_tenant_status ON {schema}.documents (tenant, status, source_uri);
   CREATE INDEX documents_source_uri ON {schema}.documents (source_uri, tenant);
   CREATE INDEX documents_pipeline_version ON {schema}.documents (pipeline_version, status);
   -- Blue/green index versions; seq keeps the order a version was first recorded in across replaces.
   CREATE TABLE {schema}.index_versions (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     alias text NOT NULL,
     sink text NOT NULL,
     index_name text NOT NULL,
     state text NOT NULL,
     chunks integer,
     promoted_at text,
     retire_after text,
     updated_at text NOT NULL,
     UNIQUE (alias, sink, index_name)
   );`,
  // Identity is (pipeline, version, tenant, uri). Rows written before this get pipeline '' and the version their stamp
  // names; the first pipeline that opens the ledger adopts them (see ADOPT_LEGACY).
  `ALTER TABLE {schema}.documents
     ADD COLUMN pipeline text COLLATE "C" NOT NULL DEFAULT '',
     ADD COLUMN version integer NOT NULL DEFAULT 0,
     ADD COLUMN event_at text;
   UPDATE {schema}.documents SET version = coalesce(substring(pipeline_version from '^[0-9]+')::integer, 0);
   ALTER TABLE {schema}.documents DROP CONSTRAINT documents_pkey;
   ALTER TABLE {schema}.documents ADD PRIMARY KEY (pipeline, version, tenant, source_uri);
   DROP INDEX {schema}.documents_tenant_status;
   DROP INDEX {schema}.documents_pipeline_version;
   DROP INDEX {schema}.documents_source_uri;
   CREATE INDEX documents_source_uri ON {schema}.documents (pipeline, version, source_uri, tenant);
   CREATE INDEX documents_tenant_status ON {schema}.documents (pipeline, version, tenant, status, source_uri);
   CREATE INDEX documents_pipeline_version ON {schema}.documents (pipeline, version, pipeline_version, status);`,
];

/** Adopts rows from before migration 3 for the first pipeline that opens the ledger ($1 pipeline, $2 version). */
const ADOPT_LEGACY = `UPDATE {schema}.documents SET pipeline = $1, version = CASE WHEN version = 0 THEN $2 ELSE version END
  WHERE pipeline = ''`;

interface Row {
  tenant: string;
  source_uri: string;
  status: string;
  content_hash: string | null;
  pipeline_version: string | null;
  chunk_ids: string[];
  sinks: Record<string, SinkState>;
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

function fromRow(r: Row): DocumentRecord {
  return {
    tenant: r.tenant,
    sourceUri: r.source_uri,
    status: r.status as DocStatus,
    contentHash: r.content_hash,
    pipelineVersion: r.pipeline_version,
    chunkIds: r.chunk_ids,
    sinks: r.sinks,
    lastError: r.last_error_type === null ? null : { type: r.last_error_type, message: r.last_error_message ?? '' },
    sourceVersion: r.source_version,
    eventAt: r.event_at,
    updatedAt: r.updated_at,
  };
}

/** The smallest string above every string starting with `prefix` in code point order: a prefix becomes an index range. */
function prefixUpperBound(prefix: string): string | undefined {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const cp = cps.pop()!.codePointAt(0)!;
    if (cp < 0x10ffff) return cps.join('') + String.fromCodePoint(cp + 1 === 0xd800 ? 0xe000 : cp + 1);
  }
  return undefined;
}

// The same cursor format as the SQLite ledger: base64url of [tenant, sourceUri] of the page's last record.
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

/** The ledger for a fleet: every worker process of every host shares one PostgreSQL database. */
export function createPostgresLedger(config: PostgresLedgerConfig, scope: LedgerScope): Ledger {
  const c = PostgresLedgerConfig.parse(config);
  const s = quoteIdent(c.schema);
  const pool = openPool(c, 'ragline-ledger');
  const ready = lazyReady(async () => {
    await migrate(pool, c.schema, 'ledger', LEDGER_MIGRATIONS);
    await pool.query(ADOPT_LEGACY.replaceAll('{schema}', s), [scope.pipeline, scope.version]);
  });
  const state = { closed: false };
  const views = new Map<number, Ledger>();
  const view = (version: number): Ledger => {
    let v = views.get(version);
    if (!v)
      views.set(version, (v = postgresView({ pool, ready, c, state, forVersion: view }, { pipeline: scope.pipeline, version })));
    return v;
  };
  return {
    ...view(scope.version),
    async close() {
      if (state.closed) return;
      state.closed = true;
      await pool.end();
    },
  };
}

interface PgShared {
  pool: pg.Pool;
  ready: () => Promise<void>;
  c: ReturnType<typeof PostgresLedgerConfig.parse>;
  state: { closed: boolean };
  forVersion: (version: number) => Ledger;
}

function postgresView(shared: PgShared, scope: LedgerScope): Ledger {
  const { pool, ready, c, state } = shared;
  const where = describe(c);
  const s = quoteIdent(c.schema);

  async function query<R extends pg.QueryResultRow>(
    what: string,
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    if (state.closed) throw new ConnectorError(FailureType.InvalidInput, `${what}: ledger ${where} is closed`);
    try {
      await ready();
      return await pool.query<R>(text, values);
    } catch (err) {
      throw mapPostgresError(err, `${what} (${where})`);
    }
  }

  // $1 and $2 are the view's pipeline and version in every statement on documents.
  const sc = [scope.pipeline, scope.version];
  return {
    scope,
    forVersion: shared.forVersion,

    async get(tenant, sourceUri) {
      const { rows } = await query<Row>(
        'ledger get',
        `SELECT ${COLUMNS} FROM ${s}.documents WHERE pipeline = $1 AND version = $2 AND tenant = $3 AND source_uri = $4`,
        [...sc, tenant, sourceUri],
      );
      return rows[0] && fromRow(rows[0]);
    },

    async put(r) {
      await query(
        'ledger put',
        `INSERT INTO ${s}.documents (pipeline, version, ${COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14)
         ON CONFLICT (pipeline, version, tenant, source_uri) DO UPDATE SET status = excluded.status,
           content_hash = excluded.content_hash, pipeline_version = excluded.pipeline_version,
           chunk_ids = excluded.chunk_ids, sinks = excluded.sinks, last_error_type = excluded.last_error_type,
           last_error_message = excluded.last_error_message, source_version = excluded.source_version,
           event_at = excluded.event_at, updated_at = excluded.updated_at`,
        [
          ...sc,
          r.tenant,
          r.sourceUri,
          r.status,
          r.contentHash,
          r.pipelineVersion,
          r.chunkIds,
          JSON.stringify(r.sinks),
          r.lastError?.type ?? null,
          r.lastError?.message ?? null,
          r.sourceVersion,
          r.eventAt,
          r.updatedAt,
        ],
      );
    },

    async setSinkState(tenant, sourceUri, sink, sinkState) {
      // One statement: the row lock serialises writers, and a waiting writer merges into the row as the other left
      // it (READ COMMITTED re-reads the updated row), so concurrent updates of different sinks all survive.
      const res = await query(
        'ledger setSinkState',
        `UPDATE ${s}.documents SET sinks = sinks || jsonb_build_object($5::text, $6::jsonb)
         WHERE pipeline = $1 AND version = $2 AND tenant = $3 AND source_uri = $4`,
        [...sc, tenant, sourceUri, sink, JSON.stringify(sinkState)],
      );
      if (res.rowCount === 0) throw new ConnectorError(FailureType.NotFound, `ledger has no document ${tenant}/${sourceUri}`);
    },

    async list(q: LedgerQuery) {
      const limit = Math.min(Math.max(Math.trunc(q.limit ?? DEFAULT_PAGE), 1), MAX_PAGE);
      const conds: string[] = ['pipeline = $1', 'version = $2'];
      const params: unknown[] = [...sc];
      const param = (v: unknown): string => `$${params.push(v)}`;
      if (q.tenant !== undefined) conds.push(`tenant = ${param(q.tenant)}`);
      if (q.status !== undefined) conds.push(`status = ${param(q.status)}`);
      if (q.sourcePrefix) {
        conds.push(`source_uri >= ${param(q.sourcePrefix)}`);
        const upper = prefixUpperBound(q.sourcePrefix);
        if (upper !== undefined) conds.push(`source_uri < ${param(upper)}`);
      }
      if (q.after !== undefined) {
        const [t, u] = decodeCursor(q.after);
        conds.push(`(tenant, source_uri) > (${param(t)}, ${param(u)})`);
      }
      // One extra row says whether another page exists without a second query.
      const { rows } = await query<Row>(
        'ledger list',
        `SELECT ${COLUMNS} FROM ${s}.documents WHERE ${conds.join(' AND ')}
         ORDER BY tenant, source_uri LIMIT ${param(limit + 1)}`,
        params,
      );
      const records = rows.slice(0, limit).map(fromRow);
      return rows.length > limit ? { records, next: encodeCursor(records[records.length - 1]!) } : { records };
    },

    async counts(tenant) {
      const { rows } = await query<{ status: string; n: string }>(
        'ledger counts',
        `SELECT status, count(*) AS n FROM ${s}.documents
         WHERE pipeline = $1 AND version = $2 AND ($3::text IS NULL OR tenant = $3) GROUP BY status`,
        [...sc, tenant ?? null],
      );
      const out = Object.fromEntries(Object.values(DocStatus).map((st) => [st, 0])) as Record<DocStatus, number>;
      for (const r of rows) if (r.status in out) out[r.status as DocStatus] = Number(r.n);
      return out;
    },

    async totals(pipelineVersion, tenant) {
      const { rows } = await query<{ documents: string; chunks: string }>(
        'ledger totals',
        `SELECT count(*) AS documents, coalesce(sum(cardinality(chunk_ids)), 0) AS chunks FROM ${s}.documents
         WHERE pipeline = $1 AND version = $2 AND pipeline_version = $3 AND ($4::text IS NULL OR tenant = $4)
           AND status IN ('${DocStatus.ingested}', '${DocStatus.unchanged}')`,
        [...sc, pipelineVersion, tenant ?? null],
      );
      return { documents: Number(rows[0]!.documents), chunks: Number(rows[0]!.chunks) };
    },

    async deleteTenant(tenant) {
      const res = await query(
        'ledger deleteTenant',
        `DELETE FROM ${s}.documents WHERE pipeline = $1 AND version = $2 AND tenant = $3`,
        [...sc, tenant],
      );
      return res.rowCount ?? 0;
    },

    async listIndexVersions(alias) {
      const { rows } = await query<VersionRow>(
        'ledger listIndexVersions',
        `SELECT alias, sink, index_name, state, chunks, promoted_at, retire_after, updated_at FROM ${s}.index_versions
         WHERE alias = $1 ORDER BY seq`,
        [alias],
      );
      return rows.map((r) => ({
        alias: r.alias,
        sink: r.sink,
        index: r.index_name,
        state: r.state as IndexState,
        chunks: r.chunks,
        promotedAt: r.promoted_at,
        retireAfter: r.retire_after,
        updatedAt: r.updated_at,
      }));
    },

    async putIndexVersion(v: IndexVersionRecord) {
      await query(
        'ledger putIndexVersion',
        `INSERT INTO ${s}.index_versions (alias, sink, index_name, state, chunks, promoted_at, retire_after, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (alias, sink, index_name) DO UPDATE SET state = excluded.state, chunks = excluded.chunks,
           promoted_at = excluded.promoted_at, retire_after = excluded.retire_after, updated_at = excluded.updated_at`,
        [v.alias, v.sink, v.index, v.state, v.chunks, v.promotedAt, v.retireAfter, v.updatedAt],
      );
    },

    // A view over another version shares the pool: the ledger that opened it closes it.
    async close() {},
  };
}
