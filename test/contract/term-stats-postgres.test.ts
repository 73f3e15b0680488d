import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createPostgresTermStats } from '../../connectors/sparse/term-stats-postgres.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { postgresServer, uniqueName } from '../support/stack.ts';
import { termStatsContract } from './term-stats.contract.ts';

const server = postgresServer;

async function sql<R extends pg.QueryResultRow>(text: string): Promise<R[]> {
  const client = new pg.Client(server);
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

// Two stores on one schema stand for two worker hosts; a fresh schema per suite, dropped at the end.
const schema = uniqueName('term_stats_test', '_').toLowerCase();
const open = () => createPostgresTermStats({ ...server, schema, poolSize: 2 });
after(() => sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));

termStatsContract('PostgreSQL', async () => ({ stats: open(), openAnother: async () => open(), cleanup: async () => {} }));

describe('PostgreSQL term statistics', () => {
  it("keeps the SQLite store's tables, migrated once by stores starting together", async () => {
    const stores = [open(), open(), open()];
    try {
      await Promise.all(stores.map((s) => s.collection('migrate', 't1')));
      assert.deepEqual(await sql(`SELECT component, version FROM "${schema}".schema_versions`), [
        { component: 'sparse_stats', version: 1 },
      ]);
      const tables = await sql<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY table_name`,
      );
      assert.deepEqual(
        tables.map((t) => t.table_name),
        ['schema_versions', 'sparse_chunks', 'sparse_df', 'sparse_totals'],
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('fails as typed errors: an unreachable server is retryable Unavailable, text PostgreSQL refuses is InvalidInput', async () => {
    const nowhere = createPostgresTermStats({ host: '127.0.0.1', port: 1, schema, connectTimeoutMs: 2000 });
    try {
      await assert.rejects(nowhere.collection('x', 't1'), (e: unknown) => {
        assert.ok(e instanceof ConnectorError && e.type === FailureType.Unavailable && e.retryable, String(e));
        return true;
      });
    } finally {
      await nowhere.close();
    }
    const stats = open();
    try {
      await assert.rejects(stats.put('nul', 't1', [{ id: 'a', length: 1, terms: ['bad\u0000term'] }]), (e: unknown) => {
        assert.ok(e instanceof ConnectorError && e.type === FailureType.InvalidInput, String(e));
        return true;
      });
      // The failed put left nothing behind.
      assert.deepEqual(await stats.collection('nul', 't1'), { chunks: 0, avgLength: 0 });
    } finally {
      await stats.close();
    }
  });
});
