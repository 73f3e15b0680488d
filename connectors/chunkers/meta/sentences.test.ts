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
});
