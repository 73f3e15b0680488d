import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureLocalLlm } from '../../../scripts/fetch-llm.ts';
import type { Chunk, Chunker } from '../chunker.ts';
import { createWhitespaceTokenCounter } from '../whitespace-counter.ts';
import { createLlamaLocalScorer, type LlamaLocalScorer } from './llama-local.ts';
import { createMarginChunker, marginPrompt } from './margin.ts';
import { createPerplexityChunker } from './perplexity.ts';

// The real SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI) on the CPU through node-llama-cpp, installed on demand.
// Texts stay short: the exact per-token probabilities cost ~10-100 ms a token on a busy 2-core machine.

const ws = createWhitespaceTokenCounter();
const CATS =
  'Cats are small domestic animals that people keep as pets. Cats sleep for most of the day in warm places. ' +
  'A sleeping cat often purrs quietly in the sun. Pet cats also like to play with toys. ';
const VOLCANOES =
  'Volcanoes form where magma rises through the crust of the Earth. Magma that reaches the surface of a volcano is called lava. ' +
  'Lava from volcanoes cools into new volcanic rock. Iceland has many active volcanoes and lava fields.';

async function run(chunker: Chunker, text: string): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of chunker.chunk(
    (async function* () {
      yield text;
    })(),
  ))
    out.push(c);
  return out;
}

describe('meta-chunking on the local SmolLM2 (node-llama-cpp, CPU)', () => {
  let scorer: LlamaLocalScorer;
  before(async () => {
    const where = await ensureLocalLlm({ log: (l) => console.error(l) });
    scorer = await createLlamaLocalScorer({ ...where, contextSize: 1024 });
  });
  after(() => scorer.close());

  it('scores prompt tokens: finite, deterministic, placed on the text', async () => {
    const text = 'The cat sat on the mat. It purred softly.';
    const t0 = performance.now();
    const a = await scorer.scoreText(text);
    const ms = performance.now() - t0;
    const b = await scorer.scoreText(text);
    assert.deepEqual(a, b);
    assert.equal(a.logprobs[0], null);
    assert.ok(a.logprobs.slice(1).every((x) => typeof x === 'number' && Number.isFinite(x) && x <= 0));
    assert.ok(a.offsets.length >= 8 && a.offsets.every((o, i) => o >= (a.offsets[i - 1] ?? 0) && o < text.length));
    // A fluent continuation is far likelier than the same words shuffled.
    const mean = (r: typeof a) => -r.logprobs.slice(1).reduce<number>((s, x) => s + x!, 0) / (r.logprobs.length - 1);
    const shuffled = await scorer.scoreText('Mat the softly on sat. Cat purred it the.');
    assert.ok(mean(a) < mean(shuffled), `${mean(a)} vs ${mean(shuffled)}`);
    console.log(JSON.stringify({ bench: 'llama-local scoreText', tokens: a.offsets.length, ms: Math.round(ms) }));
  });

  it('perplexity chunking puts a boundary between the two topics', async () => {
    const text = CATS + VOLCANOES;
    const before = { ...scorer.stats };
    const t0 = performance.now();
    const chunks = await run(createPerplexityChunker({ targetTokens: 16, maxTokens: 128 }, scorer, ws), text);
    const ms = performance.now() - t0;
    for (const c of chunks) assert.equal(text.slice(c.start, c.end), c.text);
    assert.ok(
      chunks.some((c) => c.end === CATS.length),
      chunks.map((c) => c.text).join(' | '),
    );
    assert.ok(!chunks.some((c) => c.start < CATS.length && c.end > CATS.length));
    const tokens = scorer.stats.tokens - before.tokens;
    console.log(
      JSON.stringify({
        bench: 'meta-ppl local',
        sentences: 8,
        tokens,
        ms: Math.round(ms),
        tokensPerS: +((tokens / ms) * 1000).toFixed(1),
      }),
    );
  });

  it('margin sampling reads P("1") and P("2") and gives exact spans', async () => {
    const [p1, p2] = await scorer.nextTokenProbs(marginPrompt('Cats sleep a lot.', 'Lava is hot.', 'en'), ['1', '2']);
    assert.ok(p1! > 0 && p2! > 0 && p1! + p2! <= 1, `${p1} ${p2}`);
    const text = 'Cats sleep a lot. Cats purr in the sun. Lava is molten rock. Volcanoes erupt lava.';
    const t0 = performance.now();
    const chunks = await run(createMarginChunker({ targetTokens: 1, maxTokens: 64 }, scorer, ws), text);
    const ms = performance.now() - t0;
    assert.ok(chunks.length >= 1);
    let at = 0;
    for (const c of chunks) {
      assert.equal(text.slice(c.start, c.end), c.text);
      assert.equal(c.start, at);
      at = c.end;
    }
    assert.equal(at, text.length);
    console.log(JSON.stringify({ bench: 'meta-msp local', decisions: 3, ms: Math.round(ms), msPerDecision: Math.round(ms / 3) }));
  });
});
