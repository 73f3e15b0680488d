import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { stack, uniqueName } from '../support/stack.ts';
import { Harness } from './support.ts';

// The same pipeline with its ledger and embedding cache in the stack's PostgreSQL (a schema of its own): what a fleet
// of workers on several hosts would share.

const url = `postgres://${stack.postgres.user}@127.0.0.1:${stack.ports.postgres}/${stack.postgres.database}`;

describe('ingestion with the PostgreSQL ledger', () => {
  const schema = uniqueName('e2e').replace(/\W/g, '_').toLowerCase();
  const h = new Harness({ ledger: { kind: 'postgres', url, password: stack.postgres.password, schema } });
  before(async () => {
    await h.start();
    for (const t of ['oceans', 'deserts', 'tundra'])
      await h.put(`pg/${t}.txt`, `${t} cover much of the planet; ${t} shape the climate. `.repeat(20));
  });
  after(async () => {
    await h.stop();
    const client = new pg.Client({
      host: '127.0.0.1',
      port: stack.ports.postgres,
      user: stack.postgres.user,
      password: stack.postgres.password,
      database: stack.postgres.database,
    });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it('ingests, records every document in PostgreSQL, and a re-run changes and embeds nothing', async () => {
    const first = await h.ingestAll();
    assert.deepEqual({ ingested: first.ingested, failed: first.failed }, { ingested: 3, failed: 0 });
    for (const t of ['oceans', 'deserts', 'tundra']) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(`pg/${t}.txt`));
      assert.equal(rec?.status, 'ingested');
      assert.deepEqual(await h.sinkIds(`pg/${t}.txt`), [...rec.chunkIds].sort());
    }
    const again = await h.ingestAll();
    assert.deepEqual(
      { unchanged: again.unchanged, ingested: again.ingested, chunks: again.chunks },
      { unchanged: 3, ingested: 0, chunks: 0 },
    );
  });
});
