import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createJinaLateChunkEmbedder } from '../../connectors/embedders/late/jina.ts';
import type { LateChunkEmbedder } from '../../connectors/embedders/late/late-chunking.ts';
import { createTeiLateChunkEmbedder } from '../../connectors/embedders/late/tei.ts';
import { createTeiEmbedder } from '../../connectors/embedders/tei.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';

// An embed call's signal (EmbedCallOptions.signal) against a frozen server: one that accepts connections and reads
// requests but never answers, as a SIGSTOPped embedding server or a hung GPU does. The call must reject with the
// signal's own reason as soon as it is aborted, not wait for its 60 s timeout; a signal aborted before the call sends
// nothing. The real server frozen under a pool worker is test/e2e/embed-supervisor.test.ts's.

interface FrozenServer {
  url: string;
  /** Requests that arrived (and were never answered). */
  arrived: () => number;
  close(): Promise<void>;
}

async function startFrozenServer(): Promise<FrozenServer> {
  let arrived = 0;
  const server: Server = createServer((req) => {
    req.resume();
    req.on('end', () => arrived++);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived: () => arrived,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Resolves once `n` requests have arrived at the server. */
async function arrivals(server: FrozenServer, n: number): Promise<void> {
  while (server.arrived() < n) await new Promise((r) => setTimeout(r, 10));
}

const reason = () => new ConnectorError(FailureType.Unavailable, 'embed server judged down: request abandoned');

describe('embed calls abandon the requests a frozen server holds when their signal aborts', () => {
  let server: FrozenServer;
  before(async () => {
    server = await startFrozenServer();
  });
  after(async () => {
    await server.close();
  });

  it('tei: every request in flight is abandoned and the call rejects with the reason', async () => {
    const e = createTeiEmbedder({ baseUrl: server.url, model: 'm', dims: 8, maxInputs: 2, concurrency: 3, timeoutMs: 60_000 });
    const ctl = new AbortController();
    const before = server.arrived();
    const call = e.embedDocuments(
      Array.from({ length: 12 }, (_, i) => `text ${i}`),
      { signal: ctl.signal },
    );
    await arrivals(server, before + 3); // the three lanes each hold a request
    const why = reason();
    ctl.abort(why);
    await assert.rejects(call, (err: unknown) => err === why);
    // The lanes stop: no request is sent after the abort.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(server.arrived(), before + 3);
    await e.close();
  });

  it('tei: a signal aborted before the call sends nothing', async () => {
    const e = createTeiEmbedder({ baseUrl: server.url, model: 'm', dims: 8, timeoutMs: 60_000 });
    const before = server.arrived();
    const why = reason();
    await assert.rejects(e.embedDocuments(['a'], { signal: AbortSignal.abort(why) }), (err: unknown) => err === why);
    assert.equal(server.arrived(), before);
    await e.close();
  });

  /** A late chunking call on the frozen server: once its first request arrives, the abort must end it. */
  async function lateCallAbandoned(e: LateChunkEmbedder): Promise<void> {
    const ctl = new AbortController();
    const before = server.arrived();
    const call = e.embedChunks('One sentence. Another one.', [{ start: 0, end: 13 }], { signal: ctl.signal });
    await arrivals(server, before + 1);
    const why = reason();
    ctl.abort(why);
    await assert.rejects(call, (err: unknown) => err === why);
    await e.close();
  }

  it('late chunking on TEI: /tokenize held by the frozen server is abandoned', async () => {
    await lateCallAbandoned(
      createTeiLateChunkEmbedder({ baseUrl: server.url, model: 'sentence-transformers/all-MiniLM-L6-v2', timeoutMs: 60_000 }),
    );
  });

  it('late chunking on Jina: the request held by the frozen server is abandoned', async () => {
    await lateCallAbandoned(
      createJinaLateChunkEmbedder({ baseUrl: server.url, apiKey: 'k', model: 'jina-embeddings-v3', timeoutMs: 60_000 }),
    );
  });
});
