import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import { rateBudgetContract } from '../../test/contract/rate-budget.contract.ts';
import { createThreadedSqliteRateBudget } from '../ledger/sqlite-thread.ts';
import { createSqliteRateBudget } from './rate-budget-sqlite.ts';

describe('SQLite rate budget (handles on one file stand for the worker processes of a host)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-budget-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'budget.db');
  rateBudgetContract((c) => createSqliteRateBudget({ path, windowMs: 60_000, ...c }));
});

describe('SQLite rate budget on its thread (what workers use)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-budget-thread-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'budget.db');
  rateBudgetContract((c) => createThreadedSqliteRateBudget({ path, windowMs: 60_000, ...c }));
});
