import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { termStatsContract } from '../../test/contract/term-stats.contract.ts';
import { createThreadedSqliteTermStats } from '../ledger/sqlite-thread.ts';
import { createSqliteTermStats } from './term-stats.ts';

// Two stores on one file stand for two worker processes of a host.
termStatsContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ragline-term-stats-'));
  const path = join(dir, 'sparse.sqlite');
  return {
    stats: createSqliteTermStats({ path }),
    openAnother: async () => createSqliteTermStats({ path }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

// As workers open it: on its own thread (two threads on one file really overlap, so lock waits happen).
termStatsContract('SQLite on its own thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ragline-term-stats-thread-'));
  const path = join(dir, 'sparse.sqlite');
  return {
    stats: createThreadedSqliteTermStats({ path }),
    openAnother: async () => createThreadedSqliteTermStats({ path }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
