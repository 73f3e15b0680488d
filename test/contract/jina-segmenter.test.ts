import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Chunk } from '../../connectors/chunkers/chunker.ts';
import { createJinaSegmenterChunker, locate } from '../../connectors/chunkers/remote/jina-segmenter.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import { startFakeSegmenter } from './fakes/jina-segmenter.ts';
import type { FakeServer } from './fakes/late-http.ts';

const words = { name: 'words', count: (t: string) => (t.match(/\S+/g) ?? []).length };

async function* pieces(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}
async function collect(it: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const DOC = [
  '# Harbour notes\n\nThe ferry   leaves at 06:10 and 18:40.  Tickets cost 4 € for adults — children ride free.\n',
  'In winter\tthe schedule thins out:\n only the morning crossing runs on Sundays 🌊, and storms cancel it often.\n\n',
  'Café Nørre by the pier opens when the first boat docks. 中文菜单 is available on request.\n',
]
  .join('')
  .repeat(12);

function checkContract(text: string, chunks: Chunk[]): void {
  let prev = 0;
  chunks.forEach((c, i) => {
    assert.equal(c.index, i);
    assert.equal(c.text, text.slice(c.start, c.end), `chunk ${i} is the exact slice of its span`);
    assert.ok(c.start >= prev, `chunk ${i} starts after the previous one ends`);
    assert.equal(c.tokens, words.count(c.text));
    prev = c.end;
  });
  // Nothing but whitespace is left out.
  let covered = '';
  let at = 0;
  for (const c of chunks) {
    covered += text.slice(at, c.start).trim();
    at = c.end;
  }
  assert.equal(covered + text.slice(at).trim(), '');
}

describe('Jina Segmenter chunker (against a fake of the documented API)', () => {
  let exact: FakeServer;
  let normalising: FakeServer;
  before(async () => {
    exact = await startFakeSegmenter({ apiKey: 'k', maxContentChars: 2000 });
    normalising = await startFakeSegmenter({ normalizeWhitespace: true });
  });
  after(async () => {
    await exact?.close();
    await normalising?.close();
  });

  it('sends the documented request and maps chunks to exact spans', async () => {
    const chunker = createJinaSegmenterChunker(
      { url: `${exact.url}/`, apiKey: 'k', maxChunkLength: 200, tokenizer: 'o200k_base', maxRequestChars: 2000 },
      words,
    );
    exact.requests.length = 0;
    const chunks = await collect(chunker.chunk(pieces(DOC, 97)));
    checkContract(DOC, chunks);
    assert.ok(chunks.length > 10);
    const req = exact.requests[0]!;
    assert.equal(req.headers.authorization, 'Bearer k');
    assert.deepEqual(Object.keys(req.body as object).sort(), [
      'content',
      'max_chunk_length',
      'return_chunks',
      'return_tokens',
      'tokenizer',
    ]);
    assert.deepEqual(
      { ...(req.body as object), content: undefined },
      {
        content: undefined,
        return_chunks: true,
        return_tokens: false,
        max_chunk_length: 200,
        tokenizer: 'o200k_base',
      },
    );
    assert.ok(chunker.spec.startsWith('jina-segmenter:v1:max=200:tok=o200k_base'));
  });

  it('streams a long document as requests cut at paragraph breaks, spans still global and exact', async () => {
    exact.requests.length = 0;
    const chunker = createJinaSegmenterChunker(
      { url: `${exact.url}/`, apiKey: 'k', maxChunkLength: 300, maxRequestChars: 1500 },
      words,
    );
    const chunks = await collect(chunker.chunk(pieces(DOC, 1000)));
    checkContract(DOC, chunks);
    assert.ok(exact.requests.length >= DOC.length / 1500);
    for (const r of exact.requests) {
      const content = (r.body as { content: string }).content;
      assert.ok(content.length <= 1500);
    }
  });

  it('locates chunks whose whitespace the service normalised', async () => {
    const chunker = createJinaSegmenterChunker({ url: `${normalising.url}/`, maxChunkLength: 150 }, words);
    const chunks = await collect(chunker.chunk(pieces(DOC, 4096)));
    checkContract(DOC, chunks);
    // The service's strings differ from ours in whitespace only.
    assert.ok(chunks.some((c) => /\s{2,}|\t|\n/.test(c.text)));
  });

  it('finds text by exact match, then whitespace-tolerant match, from the cursor on', () => {
    assert.deepEqual(locate('a b a b', 'a b', 1), { start: 4, end: 7 });
    assert.deepEqual(locate('x  a\n\tb y', 'a b', 0), { start: 3, end: 7 });
    assert.deepEqual(locate('x (a) [b]', '(a) [b]', 0), { start: 2, end: 9 });
    assert.equal(locate('abc', 'zzz', 0), undefined);
  });

  it('maps 4xx and 429 to typed errors and refuses chunks that are not in the text', async () => {
    const chunker = createJinaSegmenterChunker({ url: `${exact.url}/`, apiKey: 'k' }, words);
    exact.failNext(1, { status: 429, retryAfter: '3' });
    await assert.rejects(collect(chunker.chunk(pieces('some text', 100))), (e: unknown) => {
      return e instanceof ConnectorError && e.type === FailureType.RateLimited && e.retryAfterMs === 3000;
    });
    // The fake caps content at 2000 chars; this chunker sends up to 60 000.
    await assert.rejects(collect(chunker.chunk(pieces(DOC, 100))), (e: unknown) => {
      return e instanceof ConnectorError && e.type === FailureType.InvalidInput && !e.retryable && /413/.test(e.message);
    });
    const noKey = createJinaSegmenterChunker({ url: `${exact.url}/` }, words);
    await assert.rejects(
      collect(noKey.chunk(pieces('some text', 100))),
      (e: unknown) => e instanceof ConnectorError && /401/.test(e.message),
    );
    exact.failNext(1, { status: 200, body: { num_chunks: 1, chunks: ['text the document does not hold'] } });
    await assert.rejects(collect(chunker.chunk(pieces('some text', 100))), (e: unknown) => {
      return e instanceof ConnectorError && e.name === 'SegmenterResponseError' && !e.retryable;
    });
    exact.failNext(1, { status: 200, body: { num_chunks: 1 } });
    await assert.rejects(collect(chunker.chunk(pieces('some text', 100))), /no `chunks`/);
    assert.deepEqual(await collect(chunker.chunk(pieces('  \n ', 100))), []);
  });
});
