import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeDocx, makePdf } from '../../samples/make-samples.ts';
import { Harness } from './support.ts';

const para = (topic: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) => `${topic} paragraph ${i}: ${topic} matters for search quality in many different ways, number ${i}.`,
  ).join('\n\n');

describe('ingestion end to end on the real stack (S3 -> Temporal -> local model -> Chroma)', () => {
  const h = new Harness();
  before(async () => {
    await h.start();
    await h.put('docs/alpha.md', `# Alpha\n\n${para('alpha', 12)}`);
    await h.put('docs/beta.txt', para('beta', 6));
    await h.put('docs/gamma.html', `<html><head><title>Gamma</title></head><body><p>${para('gamma', 4)}</p></body></html>`);
    await h.put(
      'docs/delta.pdf',
      makePdf('Delta', [['Delta is about durable workflows.', 'It survives crashes.'], ['Second page of delta.']]),
    );
    await h.put(
      'docs/epsilon.docx',
      await makeDocx(['Epsilon explains embeddings.', 'Vectors place similar texts close together.']),
    );
  });
  after(() => h.stop());

  it('ingests every format, and the sink and the ledger agree chunk for chunk', async () => {
    const counts = await h.ingestAll();
    assert.deepEqual(
      { listed: counts.listed, ingested: counts.ingested, failed: counts.failed },
      { listed: 5, ingested: 5, failed: 0 },
    );
    let total = 0;
    for (const key of ['docs/alpha.md', 'docs/beta.txt', 'docs/gamma.html', 'docs/delta.pdf', 'docs/epsilon.docx']) {
      const rec = await h.ledger.get(h.spec.tenant, h.uri(key));
      assert.equal(rec?.status, 'ingested', key);
      assert.ok(rec.chunkIds.length > 0, key);
      assert.deepEqual(await h.sinkIds(key), [...rec.chunkIds].sort(), key);
      assert.equal(rec.sinks.chroma?.state, 'ok');
      total += rec.chunkIds.length;
    }
    assert.equal(counts.chunks, total);
    assert.equal(await h.sink.count(h.index, { tenant: h.spec.tenant }), total);
    const alpha = await h.ledger.get(h.spec.tenant, h.uri('docs/alpha.md'));
    assert.ok(alpha!.chunkIds.length >= 4, `12 paragraphs make several 64-token chunks (got ${alpha!.chunkIds.length})`);
  });

  it('finds the right document for a question, with its metadata', async () => {
    const { createLocalOnnxEmbedder } = await import('../../connectors/embedders/local-onnx.ts');
    const { ensureModel } = await import('../../scripts/fetch-model.ts');
    const embedder = await createLocalOnnxEmbedder({ modelDir: await ensureModel() });
    try {
      const hits = await h.sink.search(h.index, await embedder.embedQuery('Which document explains embeddings and vectors?'), {
        topK: 1,
        tenant: h.spec.tenant,
      });
      assert.equal(hits[0]?.metadata.sourceUri, h.uri('docs/epsilon.docx'));
      assert.equal(hits[0]?.metadata.tenant, h.spec.tenant);
      assert.equal(hits[0]?.metadata.pipelineVersion, '1');
      assert.ok(hits[0]!.text.includes('Epsilon'));
    } finally {
      await embedder.close();
    }
  });

  it('re-running unchanged content changes nothing and embeds nothing', async () => {
    const before = await h.sink.count(h.index, { tenant: h.spec.tenant });
    const counts = await h.ingestAll();
    assert.equal(counts.unchanged, 5);
    assert.equal(counts.ingested, 0);
    assert.equal(counts.chunks, 0);
    assert.equal(await h.sink.count(h.index, { tenant: h.spec.tenant }), before);
  });

  it('an edit replaces the document: new chunks in, stale chunks out, unchanged chunks come from the cache', async () => {
    const old = await h.sinkIds('docs/alpha.md');
    // Keep the first paragraphs, replace the rest with a short new ending.
    await h.put('docs/alpha.md', `# Alpha\n\n${para('alpha', 6)}\n\nA brand new closing paragraph.`);
    const counts = await h.ingestAll();
    assert.equal(counts.ingested, 1);
    assert.equal(counts.unchanged, 4);
    const fresh = await h.sinkIds('docs/alpha.md');
    const rec = await h.ledger.get(h.spec.tenant, h.uri('docs/alpha.md'));
    assert.deepEqual(fresh, [...rec!.chunkIds].sort());
    assert.ok(fresh.length < old.length, 'the shorter version has fewer chunks');
    assert.ok(counts.cached > 0, 'the leading chunks did not change, so their vectors came from the cache');
  });

  it('a deleted object disappears from the sink and the ledger says deleted', async () => {
    await h.remove('docs/beta.txt');
    const outcome = await h.client.deleteDocument(h.uri('docs/beta.txt'), { force: false });
    assert.equal(outcome.status, 'deleted');
    assert.deepEqual(await h.sinkIds('docs/beta.txt'), []);
    const rec = await h.ledger.get(h.spec.tenant, h.uri('docs/beta.txt'));
    assert.equal(rec?.status, 'deleted');
    assert.deepEqual(rec?.chunkIds, []);
  });

  it('a re-run deletes documents whose objects are gone, even without a delete event', async () => {
    await h.remove('docs/gamma.html');
    const counts = await h.ingestAll();
    assert.equal(counts.deleted, 1);
    assert.deepEqual(await h.sinkIds('docs/gamma.html'), []);
    assert.equal((await h.ledger.get(h.spec.tenant, h.uri('docs/gamma.html')))?.status, 'deleted');
    assert.equal((await h.ledger.get(h.spec.tenant, h.uri('docs/delta.pdf')))?.status, 'ingested', 'the others stay');
  });

  it('two versions arriving close together end in the latest one', async () => {
    await h.put('docs/race.txt', 'first version of the race document');
    const first = h.client.ingestDocument(h.uri('docs/race.txt'));
    await h.put('docs/race.txt', 'second and final version of the race document');
    const second = h.client.ingestDocument(h.uri('docs/race.txt'));
    await Promise.all([first, second]);
    const hits = await h.sink.idsOfDocument(h.index, h.spec.tenant, h.uri('docs/race.txt'));
    assert.equal(hits.length, 1);
    const rec = await h.ledger.get(h.spec.tenant, h.uri('docs/race.txt'));
    assert.equal(rec?.status, 'ingested');
    const { createHash } = await import('node:crypto');
    assert.equal(rec?.contentHash, createHash('sha256').update('second and final version of the race document').digest('hex'));
  });
});
