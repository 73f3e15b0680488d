import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SearchHit, Sink } from '../../connectors/sinks/sink.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { stack } from '../support/stack.ts';
import { Harness } from './support.ts';

const section = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${topic} sentence ${i}: ${topic} shapes the land in its own slow way.`).join(' ');

// Markdown through the whole pipeline (S3 -> parse -> Markdown chunker -> local model -> three sinks): every hit names
// the headings of the section its chunk came from.
describe('Markdown heading paths end to end', () => {
  const h = new Harness({
    chunker: { kind: 'markdown', chunkSize: 48, chunkOverlap: 0 },
    sinks: [
      { kind: 'chroma', name: 'chroma', port: stack.ports.chroma },
      { kind: 'weaviate', name: 'weaviate', port: stack.ports.weaviate, grpcPort: stack.ports.weaviateGrpc },
      { kind: 'milvus', name: 'milvus', address: `127.0.0.1:${stack.ports.milvus}` },
    ],
  });
  const doc = [
    'Field notes, before any heading.',
    '# Rivers',
    section('river water', 3),
    '## Deltas > estuaries',
    `Sediment settles where the river meets the sea. ${section('sediment', 2)}`,
    '# Mountains',
    section('mountain rock', 3),
  ].join('\n\n');
  /** The heading path of the section a chunk starting at `start` sits in (a heading line starts its own section). */
  const expected = (start: number): string[] | undefined => {
    if (start < doc.indexOf('# Rivers')) return undefined;
    if (start < doc.indexOf('## Deltas')) return ['Rivers'];
    if (start < doc.indexOf('# Mountains')) return ['Rivers', 'Deltas > estuaries'];
    return ['Mountains'];
  };
  let sinks: Map<string, Sink>;
  before(async () => {
    sinks = await createSinks(h.spec);
    await h.start();
    await h.put('md/geo.md', doc);
  });
  after(async () => {
    await Promise.all([...sinks.values()].map((s) => s.close()));
    await h.stop();
  });

  it('stores each chunk with its heading path in every sink and returns it with search hits', async () => {
    const counts = await h.ingestAll();
    assert.equal(counts.ingested, 1, JSON.stringify(await h.ledger.list({ tenant: h.spec.tenant, status: 'failed' })));
    const { createLocalOnnxEmbedder } = await import('../../connectors/embedders/local-onnx.ts');
    const { ensureModel } = await import('../../scripts/fetch-model.ts');
    const embedder = await createLocalOnnxEmbedder({ modelDir: await ensureModel() });
    try {
      const query = await embedder.embedQuery('Where does sediment settle when a river meets the sea?');
      for (const [name, sink] of sinks) {
        const hits: SearchHit[] = await sink.search(h.index, query, { topK: 20, tenant: h.spec.tenant });
        assert.equal(hits.length, counts.chunks, `${name}: every chunk is a hit`);
        for (const hit of hits) {
          assert.equal(hit.metadata.sourceUri, h.uri('md/geo.md'));
          assert.equal(hit.text, doc.slice(hit.metadata.start, hit.metadata.end));
          assert.deepEqual(
            hit.metadata.headingPath,
            expected(hit.metadata.start),
            `${name}: ${JSON.stringify(hit.text.slice(0, 60))}`,
          );
        }
        assert.ok(
          hits.some((x) => x.metadata.headingPath === undefined),
          `${name}: the preamble has no path`,
        );
        assert.deepEqual(hits[0]!.metadata.headingPath, ['Rivers', 'Deltas > estuaries'], `${name}: the nearest chunk`);
      }
    } finally {
      await embedder.close();
    }
  });
});
