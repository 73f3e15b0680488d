import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalLateChunkEmbedder } from '../../connectors/embedders/late/local.ts';
import type { LateChunkEmbedder } from '../../connectors/embedders/late/late-chunking.ts';
import { ensureModel } from '../../scripts/fetch-model.ts';
import { Harness } from './support.ts';

// Late chunking wired through the pipeline: the embed activity reads the document's whole text (kept by the parse
// step) and stores, for every chunk, the vector pooled in the context of the whole document.

const TEXT = Array.from(
  { length: 12 },
  (_, i) =>
    `Paragraph ${i} of the lighthouse log: the keeper trimmed the lamp wick and noted wind from the ${['north', 'east', 'south', 'west'][i % 4]}.`,
).join('\n\n');

describe('late chunking through the pipeline (local model)', () => {
  const h = new Harness({ chunker: { kind: 'recursive', chunkSize: 40, chunkOverlap: 0 }, lateChunking: { kind: 'local' } });
  let late: LateChunkEmbedder;
  before(async () => {
    late = await createLocalLateChunkEmbedder({ modelDir: await ensureModel() });
    await h.start();
    await h.put('late/log.txt', TEXT);
  });
  after(async () => {
    await late?.close();
    await h.stop();
  });

  it('stores for each chunk the vector pooled in the whole document, and a re-run embeds nothing', async () => {
    const counts = await h.ingestAll();
    assert.deepEqual({ ingested: counts.ingested, failed: counts.failed }, { ingested: 1, failed: 0 });
    const hits = await h.sink.search(h.index, new Float32Array(384).fill(0.05), { topK: 100, tenant: h.spec.tenant });
    assert.ok(hits.length >= 3, `chunks: ${hits.length}`);
    const spans = hits.map((x) => ({ start: x.metadata.start, end: x.metadata.end })).sort((a, b) => a.start - b.start);
    const expected = await late.embedChunks(TEXT, spans);
    for (const [k, span] of spans.entries()) {
      const [top] = await h.sink.search(h.index, expected[k]!, { topK: 1, tenant: h.spec.tenant });
      assert.equal(top?.metadata.start, span.start);
      assert.ok(top!.score > 0.999, `chunk at ${span.start}: score ${top!.score}`);
    }
    const again = await h.ingestAll();
    assert.deepEqual({ unchanged: again.unchanged, cached: again.cached }, { unchanged: 1, cached: 0 });
  });
});
