import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWhitespaceTokenCounter } from '../whitespace-counter.ts';
import { capSentence, type Sentence, sentences } from './sentences.ts';

async function* pieces(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function split(text: string, size: number, maxChars = 10_000): Promise<Sentence[]> {
  const out: Sentence[] = [];
  for await (const s of sentences(pieces(text, size), maxChars)) out.push(s);
  return out;
}

// node:test's timeout is a timer, and a timer cannot fire while a call holds the event loop: each guarded test ends
// with a timer turn, so one that ran past its timeout fails instead of passing late.
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('meta-chunking sentences', () => {
  const text = '  First one. Second one!  Third?\n\nA line\nwithout stop. 中文句子。下一句！Last words';

  it('tiles the text after leading whitespace, each slice exact', async () => {
    const ss = await split(text, text.length);
    assert.deepEqual(
      ss.map((s) => s.text),
      ['  First one. ', 'Second one!  ', 'Third?\n\n', 'A line\n', 'without stop. ', '中文句子。', '下一句！', 'Last words'],
    );
    for (const [i, s] of ss.entries()) {
      assert.equal(text.slice(s.start, s.end), s.text);
      if (i > 0) assert.equal(s.start, ss[i - 1]!.end);
    }
  });

  it('gives the same sentences whatever the input piece size', async () => {
    const whole = await split(text, text.length);
    for (const size of [1, 2, 3, 7, 13]) assert.deepEqual(await split(text, size), whole, `piece size ${size}`);
  });

  it('cuts a run without sentence ends at whitespace within maxChars, the same way on every piece size', async () => {
    const run = 'word '.repeat(100) + 'end.';
    const whole = await split(run, run.length, 64);
    assert.ok(whole.every((s) => s.text.length <= 64));
    assert.equal(whole.map((s) => s.text).join(''), run);
    for (const size of [1, 5, 17]) assert.deepEqual(await split(run, size, 64), whole);
  });

  it('caps a long sentence by tokens at whitespace, keeping exact spans', () => {
    const counter = createWhitespaceTokenCounter();
    const t = 'one two three four five six seven eight nine ten.';
    const parts = capSentence({ start: 100, end: 100 + t.length, text: t }, counter, 3);
    assert.equal(parts.map((p) => p.text).join(''), t);
    for (const p of parts) {
      assert.ok(counter.count(p.text) <= 3, p.text);
      assert.equal(t.slice(p.start - 100, p.end - 100), p.text);
    }
  });

  it('finds sentence ends after long punctuation runs without quadratic rescans', { timeout: 10_000 }, async () => {
    // A run of n periods with no space after it used to be retried from each of its characters (64 K took minutes).
    for (const n of [32 * 1024, 64 * 1024]) {
      for (const run of ['.'.repeat(n), '!?…'.repeat(n / 4)]) {
        const text = `Hm${run}x. Next one.`;
        const whole = await split(text, 8192, 4096);
        assert.equal(whole.map((s) => s.text).join(''), text);
        assert.deepEqual(whole.slice(-1), [{ start: text.length - 9, end: text.length, text: 'Next one.' }]);
        assert.ok(whole.every((s, i) => i === 0 || s.start === whole[i - 1]!.end));
      }
      const ended = await split(`Hm${'.'.repeat(n)} Next.`, 8192, 1 << 20);
      assert.deepEqual(
        ended.map((s) => s.text),
        [`Hm${'.'.repeat(n)} `, 'Next.'],
      );
    }
    await turn();
  });
});
