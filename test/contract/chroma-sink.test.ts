import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ChromaClient } from 'chromadb';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { type ChromaSinkConfig, createChromaSink } from '../../connectors/sinks/chroma.ts';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { sinkContract, trackIndexes } from './sink.contract.ts';

const server = { host: '127.0.0.1', port: stack.ports.chroma, ssl: false };
const admin = new ChromaClient(server);

/** A sink that remembers the indexes it was asked to create, so cleanup can drop exactly those. */
function trackedSink(config: ChromaSinkConfig): { sink: Sink; cleanup(): Promise<void> } {
  return trackIndexes(createChromaSink(config), async (made) => {
    for (const name of made) await admin.deleteCollection({ name }).catch(() => undefined);
  });
}

// A small page size so 250 chunks of one document span several pages.
sinkContract('chroma', async () => trackedSink({ ...server, pageSize: 100 }));

describe('Chroma sink specifics', () => {
  const { sink, cleanup } = trackedSink(server);
  after(cleanup);
  const base = uniqueName('chs', '');

  const rec = (i: number, dims: number) => {
    const vector = new Float32Array(dims);
    vector[i % dims] = 1;
    const tilt = (i * 7 + 1) % dims;
    vector[tilt] = vector[tilt]! + (i % 13) / 13;
    return {
      id: `id-${i}`,
      vector,
      text: `text ${i}`,
      metadata: {
        tenant: 't',
        sourceUri: `doc://${i % 3}`,
        chunkIndex: i,
        start: 0,
        end: 1,
        contentHash: 'h',
        pipelineVersion: 'v',
      },
    };
  };

  it('writes more records than the server takes in one request, in batches', async () => {
    const name = `${base}big`;
    await sink.ensureIndex({ name, dims: 4, metric: 'l2' });
    const batch = await admin.getMaxBatchSize();
    const records = Array.from({ length: batch + 10 }, (_, i) => rec(i, 4));
    await sink.upsert(name, records);
    assert.equal(await sink.count(name), batch + 10);
    assert.equal(
      await sink.count(name, { sourceUri: 'doc://1' }),
      records.filter((r) => r.metadata.sourceUri === 'doc://1').length,
    );
    await sink.deleteIds(
      name,
      records.map((r) => r.id),
    );
    assert.equal(await sink.count(name), 0);
  });

  it('stores the metric as the collection space and scores by it', async () => {
    const name = `${base}dot`;
    await sink.ensureIndex({ name, dims: 2, metric: 'dot' });
    const col = await admin.getCollection({ name });
    assert.equal(col.configuration.hnsw?.space, 'ip');
    assert.deepEqual(col.metadata, { dims: 2 });
    await sink.upsert(name, [{ ...rec(0, 2), vector: new Float32Array([2, 0]) }]);
    const [hit] = await sink.search(name, new Float32Array([1.5, 0]), { topK: 1 });
    assert.ok(Math.abs(hit!.score - 3) < 1e-4, `dot product score 3, got ${hit!.score}`);
    await assert.rejects(sink.ensureIndex({ name, dims: 2, metric: 'cosine' }), (e: unknown) => {
      assert.ok(e instanceof ConnectorError && e.type === FailureType.SinkRejected && !e.retryable);
      return true;
    });
  });

  it('finds an index re-created under the same name after the handle was cached', async () => {
    const name = `${base}again`;
    await sink.ensureIndex({ name, dims: 3, metric: 'cosine' });
    assert.equal(await sink.count(name), 0);
    await admin.deleteCollection({ name });
    await admin.createCollection({
      name,
      embeddingFunction: null,
      metadata: { dims: 3 },
      configuration: { hnsw: { space: 'cosine' } },
    });
    await sink.upsert(name, [rec(1, 3)]);
    assert.equal(await sink.count(name), 1);
  });

  it('reports an index that does not exist as rejected, not retryable', async () => {
    await assert.rejects(sink.count(`${base}missing`), (e: unknown) => {
      assert.ok(e instanceof ConnectorError && e.type === FailureType.SinkRejected && !e.retryable);
      return true;
    });
  });

  it('reports a server that is not there as unavailable and retryable', async () => {
    // Port 9 (discard) has no listener on this machine, so the connection is refused.
    const down = createChromaSink({ host: '127.0.0.1', port: 9 });
    await assert.rejects(down.ensureIndex({ name: `${base}down`, dims: 2, metric: 'l2' }), (e: unknown) => {
      assert.ok(e instanceof ConnectorError && e.type === FailureType.Unavailable && e.retryable, String(e));
      return true;
    });
  });

  it('validates its config at the edge', () => {
    assert.throws(() => createChromaSink({ port: 70_000 }));
    assert.throws(() => createChromaSink({ authToken: '' }));
  });
});
