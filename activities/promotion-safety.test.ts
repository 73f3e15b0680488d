import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DocStatus, type DocumentRecord } from '../connectors/ledger/ledger.ts';
import { createSqliteLedger } from '../connectors/ledger/sqlite.ts';
import { partitionLosses, scanPromotion } from './promotion-safety.ts';

function row(tenant: string, sourceUri: string, status: DocStatus): DocumentRecord {
  return {
    tenant,
    sourceUri,
    status,
    contentHash: null,
    pipelineVersion: '1',
    chunkIds: status === DocStatus.ingested ? ['c1'] : [],
    sinks: {},
    lastError: status === DocStatus.failed ? { type: 'EmptyDocument', message: 'x.txt is empty (0 bytes)' } : null,
    sourceVersion: null,
    eventAt: null,
    updatedAt: '2025-01-01T00:00:00.000Z',
  };
}

describe('scanPromotion (every tenant behind the alias)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'promotion-safety-'));
  const v1 = createSqliteLedger({ path: join(dir, 'ledger.sqlite') }, { pipeline: 'p', version: 1 });
  const v2 = v1.forVersion(2);
  after(async () => {
    await v1.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds, across tenants, every live document the new version is missing, failed or still processing', async () => {
    for (const [t, u, s] of [
      ['a', 'one', DocStatus.ingested],
      ['a', 'two', DocStatus.unchanged],
      ['a', 'gone', DocStatus.deleted],
      ['b', 'one', DocStatus.ingested],
      ['b', 'two', DocStatus.ingested],
      ['b', 'three', DocStatus.ingested],
      ['b', 'four', DocStatus.ingested],
    ] as const)
      await v1.put(row(t, u, s));
    for (const [t, u, s] of [
      ['a', 'one', DocStatus.ingested],
      ['a', 'two', DocStatus.failed],
      ['a', 'new', DocStatus.ingested],
      ['b', 'one', DocStatus.deleted],
      ['b', 'three', DocStatus.processing],
      ['c', 'only-new', DocStatus.ingested],
    ] as const)
      await v2.put(row(t, u, s));

    const scan = await scanPromotion(v2, v1);
    assert.deepEqual(scan.tenants, ['a', 'b', 'c']);
    assert.equal(scan.liveDocuments, 6);
    const losses = scan.losses.map((l) => [l.tenant, l.sourceUri, l.reason, l.error]).sort();
    assert.deepEqual(losses, [
      ['a', 'two', 'failed', 'EmptyDocument: x.txt is empty (0 bytes)'],
      ['b', 'four', 'missing', undefined],
      ['b', 'three', 'processing', undefined],
      ['b', 'two', 'missing', undefined],
    ]);

    const none = await scanPromotion(v2, undefined);
    assert.deepEqual([none.losses, none.liveDocuments, none.tenants], [[], 0, ['a', 'b', 'c']]);
  });

  it('partitionLosses accepts by source uri, or all', () => {
    const losses = [
      { tenant: 'a', sourceUri: 'one', reason: 'missing' as const },
      { tenant: 'b', sourceUri: 'two', reason: 'failed' as const },
    ];
    assert.deepEqual(partitionLosses(losses, undefined), { accepted: [], refused: losses });
    assert.deepEqual(partitionLosses(losses, ['two']), { accepted: [losses[1]], refused: [losses[0]] });
    assert.deepEqual(partitionLosses(losses, 'all'), { accepted: losses, refused: [] });
  });
});
