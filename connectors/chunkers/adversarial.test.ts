import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, pieces } from './chunker.contract.ts';
import { createChunker } from './index.ts';
import { TextBuffer } from './pack.ts';
import { SentenceScanner } from './sentence.ts';
import { createWhitespaceTokenCounter } from './whitespace-counter.ts';

// Regression guards for text that made sentence and heading detection quadratic (seconds to minutes of blocked
// event loop for under 100 KB). The per-test timeout catches a return of that (see `turn`); the assertions check the
// output, for n and 2n copies, so a fix that drops or reorders text fails too.
const GUARD = { timeout: 10_000 };
const ws = createWhitespaceTokenCounter();
// node:test's timeout is a timer, and a timer cannot fire while a call holds the event loop: each guarded test ends
// with a timer turn, so one that ran past its timeout fails instead of passing late.
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function sentences(text: string): string[] {
  const tb = new TextBuffer();
  tb.append(text, 0);
  return new SentenceScanner(tb, 'en').scan(true).map(([a, b]) => text.slice(a, b));
}

describe('sentence segmentation on pathological text', () => {
  it('keeps 20,000 abbreviations and initials in one sentence', GUARD, async () => {
    for (const unit of ['Dr. ', 'e.g. ', 'U.S.A. ', '(Dr.) ']) {
      for (const n of [10_000, 20_000]) {
        const text = `${unit.repeat(n)}Smith left. Then he came back.`;
        assert.deepEqual(sentences(text), [`${unit.repeat(n)}Smith left. `, 'Then he came back.'], `${unit} × ${n}`);
      }
    }
    await turn();
  });

  it('handles long runs of periods and short sentences', GUARD, async () => {
    for (const n of [40_000, 80_000]) {
      assert.deepEqual(sentences(`Wait${'.'.repeat(n)} Go.`), [`Wait${'.'.repeat(n)} `, 'Go.']);
      const short = sentences('Go. '.repeat(n / 4));
      assert.equal(short.length, n / 4);
      assert.equal(short.join(''), 'Go. '.repeat(n / 4));
    }
    await turn();
  });

  it('packs abbreviation-heavy text into exact chunks that keep every word', GUARD, async () => {
    const text = 'Dr. '.repeat(20_000);
    const chunks = await collect(
      createChunker({ kind: 'sentence', chunkSize: 512 }, ws),
      pieces(text, () => 4096),
    );
    assert.ok(chunks.every((c, i) => c.text === text.slice(c.start, c.end) && (i === 0 || c.start >= chunks[i - 1]!.end)));
    assert.equal(
      chunks.reduce((n, c) => n + c.tokens, 0),
      ws.count(text),
    );
    await turn();
  });
});

describe('markdown headings on pathological lines', () => {
  it('reads a 128 KB heading line with a long whitespace run', GUARD, async () => {
    for (const n of [64 * 1024, 128 * 1024]) {
      const title = `a${' \t'.repeat(n / 2)}x`;
      const text = `# ${title} ##\n\nBody.\n`;
      const md = createChunker({ kind: 'markdown', chunkSize: 1000, maxChunkChars: 1 << 20 }, ws);
      const chunks = await collect(
        md,
        pieces(text, () => 8192),
      );
      assert.deepEqual(
        chunks.map((c) => [c.text, c.headings]),
        [[`# ${title} ##\n\nBody.\n`.trimEnd(), [title]]],
      );
    }
    await turn();
  });
});

describe('text the token counter calls empty', () => {
  // A real tokenizer can count a piece as 0 tokens: BERT's uncased normaliser strips combining marks, so a storm of
  // them after one letter is one token for any length. Letters and digits are the only tokens here, likewise.
  const letters = { name: 'letters', count: (t: string) => (t.match(/[\p{L}\p{N}]+/gu) ?? []).length };

  it('chunks a storm of combining marks into a few chunks per maxChunkChars, not one per mark', GUARD, async () => {
    for (const kind of ['recursive', 'fixed', 'sentence', 'markdown'] as const) {
      const text = `Z${'\u0301\u0336\u0317'.repeat(20_000)} end`;
      const chunks = await collect(
        createChunker({ kind, chunkSize: 240, chunkOverlap: 24, maxChunkChars: 3840 }, letters),
        pieces(text, () => 4096),
      );
      const chars = chunks.reduce((n, c) => n + c.text.length, 0);
      assert.ok(chunks.every((c) => c.text === text.slice(c.start, c.end)));
      // Each chunk cut by the character cap moves on by at least half of it.
      assert.ok(chunks.length <= Math.ceil(text.length / (3840 / 2)) + 1, `${kind}: ${chunks.length} chunks`);
      assert.ok(chars <= text.length * 2 + 3840, `${kind}: ${chars} characters of chunks for ${text.length} of text`);
      assert.equal(chunks.at(-1)!.end, text.length, `${kind} reaches the end`);
    }
    await turn();
  });
});
