import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FakeServer } from '../../../test/contract/fakes/server.ts';
import { fakeLmTokens, startVllmFake } from '../../../test/contract/fakes/vllm-completions.ts';
import { ConnectorError, FailureType } from '../../shared/errors.ts';
import type { Chunk, Chunker, TokenCounter } from '../chunker.ts';
import { createWhitespaceTokenCounter } from '../whitespace-counter.ts';
import { createMarginChunker } from './margin.ts';
import { createOpenAICompletionsScorer } from './openai-completions.ts';
import { createPerplexityChunker, isCut } from './perplexity.ts';

// Both meta-chunkers against a vLLM-shaped completions server whose stand-in model makes words seen earlier likely.

const ws = createWhitespaceTokenCounter();
const A = 'Cats sleep in warm places. Cats sleep in the warm sun. Warm cats sleep in sun places. ';
const B = 'Volcanoes erupt molten lava. Lava flows from volcanoes. Molten lava flows from erupting volcanoes.';
const TWO_TOPICS = A + B;

async function* pieces(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function run(chunker: Chunker, text: string, size = text.length || 1): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of chunker.chunk(pieces(text, size))) out.push(c);
  return out;
}

function checkChunks(text: string, chunks: Chunk[], counter: TokenCounter, maxTokens: number): void {
  let last = 0;
  for (const [i, c] of chunks.entries()) {
    assert.equal(c.index, i);
    assert.ok(c.start >= last && c.end > c.start, `chunk ${i} in order`);
    assert.equal(text.slice(c.start, c.end), c.text);
    assert.equal(c.tokens, counter.count(c.text));
    assert.ok(c.tokens <= maxTokens, `chunk ${i}: ${c.tokens} tokens > ${maxTokens}`);
    last = c.end;
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VOCAB = ['cats', 'sleep', 'lava', 'flows', 'Straße', 'naïve', '日本', '🎉', 'e.g.', 'x', 'and', 'the', 'of', '42'];
function randomText(rand: () => number, sentences: number): string {
  let t = '';
  for (let s = 0; s < sentences; s++) {
    const n = 1 + Math.floor(rand() * 12);
    const words = Array.from({ length: n }, () => VOCAB[Math.floor(rand() * VOCAB.length)]!);
    t += words.join(rand() < 0.1 ? '\n' : ' ') + ['. ', '! ', '?\n\n', '。', '. '][Math.floor(rand() * 5)];
  }
  return t;
}

describe('meta-chunking on a vLLM-style completions server', () => {
  let fake: FakeServer;
  let scorer: ReturnType<typeof createOpenAICompletionsScorer>;
  before(async () => {
    fake = await startVllmFake({ maxModelLen: 400 });
    scorer = createOpenAICompletionsScorer({ baseUrl: `${fake.url}/v1`, model: 'fake-lm' });
  });
  after(() => fake.close());

  it('reads prompt log-probabilities and places every token on the text, BOS and the generated token dropped', async () => {
    const text = 'Café naïve 日本 🎉 done.';
    for (const maxTokens of [0, 1] as const) {
      const s = createOpenAICompletionsScorer({ baseUrl: `${fake.url}/v1`, model: 'fake-lm', maxTokens });
      const r = await s.scoreText(text);
      const toks = fakeLmTokens(text);
      assert.equal(r.offsets.length, toks.length + 1, 'BOS plus the prompt tokens');
      assert.equal(r.logprobs[0], null);
      assert.ok(r.logprobs.slice(1).every((x) => typeof x === 'number' && Number.isFinite(x)));
      let at = 0;
      for (const [i, t] of toks.entries()) {
        assert.equal(r.offsets[i + 1], at, `token ${JSON.stringify(t)}`);
        at += t.length;
      }
    }
    const req = fake.log.at(-1)!.body as Record<string, unknown>;
    assert.equal(req.echo, true);
    assert.equal(req.logprobs, 1);
  });

  it('cuts at the perplexity minimum between two topics', async () => {
    const chunker = createPerplexityChunker({ targetTokens: 16, maxTokens: 64 }, scorer, ws);
    const chunks = await run(chunker, TWO_TOPICS);
    assert.deepEqual(
      chunks.map((c) => c.text),
      [A, B],
    );
    checkChunks(TWO_TOPICS, chunks, ws, 64);
    assert.deepEqual(await run(chunker, TWO_TOPICS, 3), chunks, 'streaming gives the same chunks');
    assert.equal(chunker.spec, 'meta-ppl:v1:lm=openai-completions:fake-lm:th=0:target=16:max=64:win=1024:ctx=256:tok=' + ws.name);
  });

  it('follows the paper: minima only, the threshold on the drop, ties on the right count', () => {
    assert.equal(isCut(3, 1, 2, 0), true);
    assert.equal(isCut(3, 1, 2, 1.5), true);
    assert.equal(isCut(1.2, 1, 1.1, 0.5), false);
    assert.equal(isCut(3, 1, 1, 0), true);
    assert.equal(isCut(1, 1, 3, 0), false);
    assert.equal(isCut(Number.NaN, 1, 3, 0), false);
  });

  it('scores a long document in windows that each fit the server', async () => {
    // Twelve topic pairs with their own words (the stand-in model only knows words seen in the window).
    const blocks = Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? A : B + ' ').replace(/[\p{L}]+/gu, (w) => `${w}${i}`));
    const doc = blocks.join('');
    const before = fake.log.length;
    const chunker = createPerplexityChunker(
      { targetTokens: 16, maxTokens: 64, windowTokens: 120, contextTokens: 30 },
      scorer,
      ws,
    );
    const chunks = await run(chunker, doc);
    const calls = fake.log.slice(before);
    assert.ok(calls.length > 3, `${calls.length} windows`);
    assert.ok(calls.every((c) => c.status === 200));
    checkChunks(doc, chunks, ws, 64);
    assert.deepEqual(
      chunks.map((c) => c.text),
      blocks,
    );
  });

  it('margin sampling keeps a topic together and splits at the next one', async () => {
    const chunker = createMarginChunker({ targetTokens: 16, maxTokens: 64 }, scorer, ws);
    const chunks = await run(chunker, TWO_TOPICS);
    assert.deepEqual(
      chunks.map((c) => c.text),
      [A, B],
    );
    assert.deepEqual(await run(chunker, TWO_TOPICS, 5), chunks);
    const req = fake.log.at(-1)!;
    assert.equal(req.path, '/v1/chat/completions');
    assert.match(String((req.body as { messages: { content: string }[] }).messages[0]!.content), /Please answer 1 or 2/);
  });

  it('keeps spans exact, in order and under the token cap on random text and any piece size', async () => {
    const rand = mulberry32(7);
    for (let round = 0; round < 6; round++) {
      const text = randomText(rand, 5 + Math.floor(rand() * 25));
      const maxTokens = 8 + Math.floor(rand() * 24);
      const target = 1 + Math.floor(rand() * maxTokens);
      for (const chunker of [
        createPerplexityChunker({ targetTokens: target, maxTokens, windowTokens: 64, contextTokens: 16 }, scorer, ws),
        createMarginChunker({ targetTokens: target, maxTokens, contextTokens: 16 }, scorer, ws),
      ]) {
        const whole = await run(chunker, text);
        checkChunks(text, whole, ws, maxTokens);
        assert.equal(
          whole
            .map((c) => c.text)
            .join('')
            .replace(/\s/g, ''),
          text.replace(/\s/g, ''),
          'no text lost',
        );
        assert.deepEqual(await run(chunker, text, 1 + Math.floor(rand() * 9)), whole, `${chunker.spec} streaming`);
      }
    }
  });

  it('maps server failures to typed errors', async () => {
    const wrongModel = createOpenAICompletionsScorer({ baseUrl: `${fake.url}/v1`, model: 'nope' });
    await assert.rejects(wrongModel.scoreText('Hello there.'), (e: unknown) => e instanceof ConnectorError && e.retryable);

    const tooLong = createPerplexityChunker({ windowTokens: 1000, contextTokens: 0 }, scorer, ws);
    await assert.rejects(run(tooLong, 'word '.repeat(600) + '.'), (e: unknown) => {
      return e instanceof ConnectorError && e.type === FailureType.InvalidInput && /maximum context length/.test(e.message);
    });

    fake.failNext(1, { status: 429, retryAfter: '2' });
    await assert.rejects(
      scorer.scoreText('Hi.'),
      (e: unknown) => e instanceof ConnectorError && e.type === FailureType.RateLimited && e.retryAfterMs === 2000,
    );

    fake.failNext(1, { status: 200, body: { choices: [{ text: 'x', logprobs: null }] } });
    await assert.rejects(scorer.scoreText('Hi.'), (e: unknown) => {
      return e instanceof ConnectorError && e.type === FailureType.Unavailable && /prompt log-probabilities/.test(e.message);
    });
  });
});
