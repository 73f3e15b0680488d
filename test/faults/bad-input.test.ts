import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Harness } from '../e2e/support.ts';

describe('bad input fails one document with a typed reason and loses nothing else', () => {
  const h = new Harness({ parser: { maxBytes: 64 * 1024 } });
  const good = ['ok/one.txt', 'ok/two.md'];
  const bad: Record<string, { body: string | Uint8Array; type: string; message: RegExp }> = {
    'bad/corrupt.pdf': {
      body: '%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref',
      type: 'CorruptDocument',
      message: /corrupt\.pdf/,
    },
    'bad/empty.txt': { body: '', type: 'EmptyDocument', message: /empty/i },
    'bad/binary.txt': {
      body: new Uint8Array(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
      type: 'UnsupportedFormat',
      message: /binary/i,
    },
    'bad/latin1.txt': {
      body: Buffer.from('caf\xe9 au lait, na\xefve r\xe9sum\xe9', 'latin1'),
      type: 'InvalidEncoding',
      message: /UTF-8/i,
    },
    'bad/huge.txt': { body: 'x'.repeat(100 * 1024), type: 'DocumentTooLarge', message: /limit/i },
    'bad/image.png': {
      body: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
      type: 'UnsupportedFormat',
      message: /png|format/i,
    },
  };

  before(async () => {
    await h.start();
    await h.put(good[0]!, 'A perfectly fine text document about ingestion.');
    await h.put(good[1]!, '# Fine\n\nA perfectly fine Markdown document.');
    for (const [key, b] of Object.entries(bad)) await h.put(key, b.body);
  });
  after(() => h.stop());

  it('ends each bad document as failed with its type and a readable reason; every good one succeeds', async () => {
    const counts = await h.ingestAll();
    assert.equal(counts.listed, good.length + Object.keys(bad).length);
    assert.equal(counts.ingested, good.length);
    assert.equal(counts.failed, Object.keys(bad).length);
    for (const key of good) assert.equal((await h.ledger.get(h.spec.tenant, h.uri(key)))?.status, 'ingested', key);
    for (const [key, b] of Object.entries(bad)) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(key));
      assert.equal(rec?.status, 'failed', key);
      assert.equal(rec?.lastError?.type, b.type, `${key}: ${rec?.lastError?.message}`);
      assert.match(rec!.lastError!.message, b.message, key);
      assert.deepEqual(await h.sinkIds(key), [], `${key} left nothing in the sink`);
    }
    const failed = await h.ledger.list({ tenant: h.spec.tenant, status: 'failed' });
    assert.equal(failed.records.length, Object.keys(bad).length);
  });
});
