import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteLedger } from '../../connectors/ledger/sqlite.ts';
import { ledgerContract } from './ledger.contract.ts';

ledgerContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ragline-ledger-'));
  const path = join(dir, 'ledger.db');
  return {
    ledger: createSqliteLedger({ path }),
    openAnother: async () => createSqliteLedger({ path }),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});
