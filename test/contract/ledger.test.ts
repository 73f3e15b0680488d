import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteLedger } from '../../connectors/ledger/sqlite.ts';
import { createThreadedSqliteLedger } from '../../connectors/ledger/sqlite-thread.ts';
import { ledgerContract } from './ledger.contract.ts';

/** The pipeline version these ledgers are views of. */
const TEST_SCOPE = { pipeline: 'test', version: 1 };

ledgerContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ragline-ledger-'));
  const path = join(dir, 'ledger.db');
  return {
    ledger: createSqliteLedger({ path }, TEST_SCOPE),
    openAnother: async () => createSqliteLedger({ path }, TEST_SCOPE),
    openScope: async (scope) => createSqliteLedger({ path }, scope),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});

// What workers use: the same store on its own thread, so its synchronous calls never block the event loop.
ledgerContract('SQLite on its thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ragline-ledger-thread-'));
  const path = join(dir, 'ledger.db');
  return {
    ledger: createThreadedSqliteLedger({ path }, TEST_SCOPE),
    openAnother: async () => createThreadedSqliteLedger({ path }, TEST_SCOPE),
    openScope: async (scope) => createThreadedSqliteLedger({ path }, scope),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});
