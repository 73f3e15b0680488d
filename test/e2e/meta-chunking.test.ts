import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Harness } from './support.ts';

// A pipeline whose chunker is Meta-Chunking (perplexity) on the offline default: SmolLM2-135M on the CPU scores the
// sentences inside the ingest worker, and the chunks reach the sink like any other chunker's.

const CATS = [
  'Cats are small domesticated carnivores that live alongside people.',
  'They sleep for most of the day and hunt at dawn and dusk.',
  'A cat grooms its fur with a rough tongue covered in tiny hooks.',
  'Many cats purr when they are content and resting.',
];
const VOLCANOES = [
  'Volcanoes form where molten rock rises through the crust of the Earth.',
  'Eruptions can send ash high into the atmosphere for days.',
  'Lava flows cool into new basalt rock along the slopes.',
  'Some volcanic islands in the Pacific grew from hot spots in the mantle.',
];

describe('Meta-Chunking (perplexity) through the pipeline, local language model', () => {
  const h = new Harness({ chunker: { kind: 'meta-perplexity', targetTokens: 48, maxTokens: 64 } });
  const text = `${CATS.join(' ')}\n\n${VOLCANOES.join(' ')}`;
  before(async () => {
    await h.start();
    await h.put('meta/two-topics.txt', text);
  });
  after(() => h.stop());

  // Where SmolLM2-135M cuts is a matter of model quality (connectors/chunkers/meta tests check the algorithm on a
  // scripted model); here the point is the wiring: chunks from the language model, exact spans, sink equals ledger.
  it('ingests a document into several exact chunks scored by the local language model', async () => {
    const counts = await h.ingestAll();
    assert.deepEqual({ ingested: counts.ingested, failed: counts.failed }, { ingested: 1, failed: 0 });
    const rec = await h.ledger.get(h.spec.tenant, h.uri('meta/two-topics.txt'));
    assert.ok(rec && rec.chunkIds.length >= 2, `chunks: ${rec?.chunkIds.length}`);
    assert.deepEqual(await h.sinkIds('meta/two-topics.txt'), [...rec.chunkIds].sort());
    const hits = await h.sink.search(h.index, new Float32Array(384).fill(0.05), { topK: 20, tenant: h.spec.tenant });
    assert.equal(hits.length, rec.chunkIds.length);
    for (const x of hits) assert.equal(text.slice(x.metadata.start, x.metadata.end), x.text);
    const covered = hits
      .sort((a, b) => a.metadata.start - b.metadata.start)
      .map((x) => x.text)
      .join('');
    assert.equal(covered.replace(/\s+/g, ' ').trim(), text.replace(/\s+/g, ' ').trim());
  });
});
