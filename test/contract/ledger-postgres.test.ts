import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { DocStatus, type DocumentRecord } from '../../connectors/ledger/ledger.ts';
import { createPostgresLedger, LEDGER_MIGRATIONS, type PostgresLedgerConfig } from '../../connectors/ledger/postgres.ts';
import { mapPostgresError } from '../../connectors/ledger/postgres-db.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { portFree } from '../../infra/supervisor.ts';
import { postgresServer, uniqueName } from '../support/stack.ts';
import { ledgerContract } from './ledger.contract.ts';

/** The pipeline version these ledgers are views of. */
const TEST_SCOPE = { pipeline: 'test', version: 1 };

const server = postgresServer;
const url = `postgres://${server.user}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${server.database}`;

/** A fresh schema per suite, dropped at the end, so runs and suites never see each other's rows. */
function schemaName(): string {
  return uniqueName('ledger_test', '_')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(server);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function dropSchema(schema: string): Promise<void> {
  await admin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

const isType = (type: FailureType) => (err: unknown) => err instanceof ConnectorError && err.type === type;

function record(tenant: string, sourceUri: string, over: Partial<DocumentRecord> = {}): DocumentRecord {
  return {
    tenant,
    sourceUri,
    status: DocStatus.ingested,
    contentHash: null,
    pipelineVersion: null,
    chunkIds: [],
    sinks: {},
    lastError: null,
    sourceVersion: null,
    eventAt: null,
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...over,
  };
}

ledgerContract('PostgreSQL', async () => {
  const schema = schemaName();
  // One connection by url (its password given apart, as a spec would keep it), the other by fields: both reach one store.
  const bare = `postgres://${server.user}@${server.host}:${server.port}/${server.database}`;
  return {
    ledger: createPostgresLedger({ url: bare, password: server.password, schema, poolSize: 4 }, TEST_SCOPE),
    openAnother: async () => createPostgresLedger({ ...server, schema, poolSize: 2 }, TEST_SCOPE),
    openScope: async (scope) => createPostgresLedger({ ...server, schema, poolSize: 1 }, scope),
    dispose: () => dropSchema(schema),
  };
});

describe('PostgreSQL ledger specifics', () => {
  const schemas: string[] = [];
  const fresh = (over: Partial<PostgresLedgerConfig> = {}) => {
    const schema = schemaName();
    schemas.push(schema);
    return createPostgresLedger({ ...server, schema, poolSize: 2, ...over }, TEST_SCOPE);
  };
  after(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  it('rejects a config with neither url nor host, or with both url and host, naming the fields', () => {
    assert.throws(() => createPostgresLedger({}, TEST_SCOPE), /url/);
    assert.throws(() => createPostgresLedger({ url, host: 'x' }, TEST_SCOPE), /either url or host/);
    assert.throws(() => createPostgresLedger({ url, schema: 'Bad-Name' }, TEST_SCOPE), /schema/);
  });

  it('logs in with a password full of url syntax given beside a url without one', async () => {
    const role = schemaName();
    const password = 'p%40 @:/?#[]%';
    const schema = schemaName();
    await admin(async (c) => {
      await c.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password.replace(/'/g, "''")}'`);
      await c.query(`GRANT CREATE ON DATABASE "${server.database}" TO "${role}"`);
    });
    const ledger = createPostgresLedger(
      {
        url: `postgres://${role}@${server.host}:${server.port}/${server.database}`,
        password,
        schema,
      },
      TEST_SCOPE,
    );
    try {
      await ledger.put(record('t', 'u'));
      assert.deepEqual(await ledger.get('t', 'u'), record('t', 'u'));
    } finally {
      await ledger.close();
      await admin(async (c) => {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.query(`REVOKE CREATE ON DATABASE "${server.database}" FROM "${role}"`);
        await c.query(`DROP ROLE "${role}"`);
      });
    }
  });

  it('migrates a version-1 schema in place: rows keep their data and version, the first pipeline to open adopts them', async () => {
    const schema = schemaName();
    schemas.push(schema);
    await admin(async (c) => {
      await c.query(`CREATE SCHEMA "${schema}"`);
      await c.query(LEDGER_MIGRATIONS[0]!.replaceAll('{schema}', `"${schema}"`));
      await c.query(`CREATE TABLE "${schema}".schema_versions (component text PRIMARY KEY, version integer NOT NULL)`);
      await c.query(`INSERT INTO "${schema}".schema_versions VALUES ('ledger', 1)`);
      await c.query(
        `INSERT INTO "${schema}".documents VALUES
           ('t', 'file:///a', 'ingested', 'h1', '2+abc', '{c1,c2}', '{"chroma":{"state":"ok","updatedAt":"x"}}', NULL, NULL, 'etag-a', '2025-01-01'),
           ('t', 'file:///b', 'failed', NULL, NULL, '{}', '{}', 'CorruptDocument', 'bad', NULL, '2025-01-01')`,
      );
    });
    const v3 = createPostgresLedger({ ...server, schema, poolSize: 1 }, { pipeline: 'p', version: 3 });
    try {
      const a = await v3.forVersion(2).get('t', 'file:///a');
      assert.deepEqual(
        [a?.status, a?.contentHash, a?.pipelineVersion, a?.chunkIds, a?.sourceVersion, a?.eventAt],
        ['ingested', 'h1', '2+abc', ['c1', 'c2'], 'etag-a', null],
      );
      assert.equal((await v3.get('t', 'file:///b'))?.lastError?.type, 'CorruptDocument');
      const { rows } = await admin((c) => c.query(`SELECT version FROM "${schema}".schema_versions`));
      assert.deepEqual(rows, [{ version: 2 }]);
    } finally {
      await v3.close();
    }
    const other = createPostgresLedger({ ...server, schema, poolSize: 1 }, { pipeline: 'q', version: 2 });
    try {
      assert.equal(await other.get('t', 'file:///a'), undefined);
    } finally {
      await other.close();
    }
  });

  it('migrates once when several processes open a fresh schema together', async () => {
    const schema = schemaName();
    schemas.push(schema);
    // Half connect by a url carrying the password, half by fields.
    const ledgers = Array.from({ length: 4 }, (_, i) =>
      createPostgresLedger(i % 2 ? { url, schema, poolSize: 1 } : { ...server, schema, poolSize: 1 }, TEST_SCOPE),
    );
    try {
      await Promise.all(ledgers.map((l, i) => l.put(record('t', `u${i}`))));
      assert.equal((await ledgers[0]!.list({ tenant: 't' })).records.length, 4);
      const { rows } = await admin((c) => c.query(`SELECT component, version FROM "${schema}".schema_versions`));
      assert.deepEqual(rows, [{ component: 'ledger', version: 2 }]);
    } finally {
      await Promise.all(ledgers.map((l) => l.close()));
    }
  });

  it('refuses a schema migrated by newer code', async () => {
    const ledger = fresh();
    const schema = schemas.at(-1)!;
    await ledger.put(record('t', 'u'));
    await ledger.close();
    await admin((c) => c.query(`UPDATE "${schema}".schema_versions SET version = 99`));
    const again = createPostgresLedger({ ...server, schema }, TEST_SCOPE);
    try {
      await assert.rejects(
        again.get('t', 'u'),
        (err: unknown) => isType(FailureType.InvalidInput)(err) && /newer/.test(String(err)),
      );
    } finally {
      await again.close();
    }
  });

  it('an unreachable server is retryable Unavailable; a wrong password is InvalidInput', async () => {
    let port = 1024 + Math.floor(Math.random() * 50_000);
    while (!(await portFree(port))) port++;
    const down = createPostgresLedger({ ...server, port, schema: 'unused' }, TEST_SCOPE);
    const wrong = createPostgresLedger({ ...server, password: 'not-the-password', schema: 'unused' }, TEST_SCOPE);
    try {
      await assert.rejects(down.get('t', 'u'), (err: unknown) => {
        assert.ok(isType(FailureType.Unavailable)(err), String(err));
        assert.equal((err as ConnectorError).retryable, true);
        return true;
      });
      await assert.rejects(wrong.get('t', 'u'), (err: unknown) => {
        assert.ok(isType(FailureType.InvalidInput)(err) && /28P01/.test(String(err)), String(err));
        assert.ok(!String(err).includes('not-the-password'), 'the message never shows the password');
        return true;
      });
    } finally {
      await Promise.all([down.close(), wrong.close()]);
    }
  });

  it('a statement past statementTimeoutMs (a row held by another transaction) is retryable Unavailable', async () => {
    const ledger = fresh({ statementTimeoutMs: 200 });
    const schema = schemas.at(-1)!;
    await ledger.put(record('t', 'held'));
    const holder = new pg.Client(server);
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".documents WHERE tenant = 't' FOR UPDATE`);
      await assert.rejects(
        ledger.setSinkState('t', 'held', 'a', { state: 'ok', updatedAt: '2025-01-01T00:00:00.000Z' }),
        (err: unknown) => isType(FailureType.Unavailable)(err) && /57014/.test(String(err)),
      );
      await holder.query('ROLLBACK');
      await ledger.setSinkState('t', 'held', 'a', { state: 'ok', updatedAt: '2025-01-01T00:00:00.000Z' });
      assert.deepEqual(Object.keys((await ledger.get('t', 'held'))!.sinks), ['a']);
    } finally {
      await holder.end();
      await ledger.close();
    }
  });

  it('text the server cannot store (a NUL character) is InvalidInput and leaves the previous record whole', async () => {
    const ledger = fresh();
    try {
      const good = record('t', 'doc', { chunkIds: ['a'], lastError: null });
      await ledger.put(good);
      await assert.rejects(
        ledger.put({ ...good, chunkIds: ['b'], lastError: { type: 'X', message: 'bad \u0000 byte' } }),
        isType(FailureType.InvalidInput),
      );
      await assert.rejects(
        ledger.setSinkState('t', 'doc', 's', { state: 'failed', error: 'nul \u0000', updatedAt: 'x' }),
        isType(FailureType.InvalidInput),
      );
      assert.deepEqual(await ledger.get('t', 'doc'), good);
    } finally {
      await ledger.close();
    }
  });

  it('survives the server dropping its idle connections: no crash, and the next call reconnects', async () => {
    const ledger = fresh();
    try {
      await ledger.put(record('t', 'u'));
      const killed = await admin((c) =>
        c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ragline-ledger' AND state = 'idle'
           AND pid <> pg_backend_pid() AND query LIKE $1`,
          [`%${schemas.at(-1)!}%`],
        ),
      );
      assert.ok(killed.rowCount! >= 1, 'killed at least one idle ledger connection');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await ledger.get('t', 'u'), record('t', 'u'));
    } finally {
      await ledger.close();
    }
  });

  it('a closed ledger refuses calls with InvalidInput', async () => {
    const ledger = fresh();
    await ledger.close();
    await ledger.close();
    await assert.rejects(ledger.get('t', 'u'), isType(FailureType.InvalidInput));
  });
});

describe('PostgreSQL error mapping (codes a test server cannot produce on demand)', () => {
  const cases: Array<[string, unknown, FailureType | 'unchanged']> = [
    ['too many clients', Object.assign(new Error('sorry, too many clients already'), { code: '53300' }), FailureType.Unavailable],
    ['serialization failure', Object.assign(new Error('could not serialize access'), { code: '40001' }), FailureType.Unavailable],
    ['deadlock', Object.assign(new Error('deadlock detected'), { code: '40P01' }), FailureType.Unavailable],
    ['starting up', Object.assign(new Error('the database system is starting up'), { code: '57P03' }), FailureType.Unavailable],
    ['admin shutdown', Object.assign(new Error('terminating connection'), { code: '57P01' }), FailureType.Unavailable],
    ['reset socket', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), FailureType.Unavailable],
    ['dropped connection', new Error('Connection terminated unexpectedly'), FailureType.Unavailable],
    ['pool wait', new Error('timeout exceeded when trying to connect'), FailureType.Unavailable],
    ['no database', Object.assign(new Error('database "x" does not exist'), { code: '3D000' }), FailureType.InvalidInput],
    ['unique violation', Object.assign(new Error('duplicate key'), { code: '23505' }), FailureType.InvalidInput],
    ['a bug in our SQL', Object.assign(new Error('relation does not exist'), { code: '42P01' }), 'unchanged'],
  ];
  for (const [name, err, expected] of cases) {
    it(`${name} -> ${expected}`, () => {
      const mapped = mapPostgresError(err, 'op');
      if (expected === 'unchanged') return assert.equal(mapped, err);
      assert.ok(mapped instanceof ConnectorError);
      assert.equal(mapped.type, expected);
      assert.equal(mapped.retryable, expected === FailureType.Unavailable);
      assert.equal(mapped.cause, err);
    });
  }
});
