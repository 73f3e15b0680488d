import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markdownTitle } from './markdown.ts';

// Regression guards for inputs that made the title patterns backtrack quadratically (a 64 KB line took seconds, with
// the event loop blocked). The per-test timeout catches a return of that (see `turn`); the assertions check the answer.
const GUARD = { timeout: 10_000 };
// node:test's timeout is a timer, and a timer cannot fire while a call holds the event loop: each guarded test ends
// with a timer turn, so one that ran past its timeout fails instead of passing late.
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const LINE = 128 * 1024;

describe('markdownTitle on pathological lines', () => {
  it('reads a 128 KB heading of spaced-out words', GUARD, async () => {
    for (const n of [LINE / 4, LINE / 2]) {
      const words = 'a \t'.repeat(n / 3) + 'x';
      assert.equal(markdownTitle(`# ${words}`), words);
      assert.equal(markdownTitle(`# a${' '.repeat(n)}x ##  `), `a${' '.repeat(n)}x`);
    }
    await turn();
  });

  it('reads a front-matter title padded with 128 KB of spaces', GUARD, async () => {
    assert.equal(
      markdownTitle(`---\ntitle: a${' \t'.repeat(LINE / 2)}b${' '.repeat(LINE)}\n---\n# Other`),
      `a${' \t'.repeat(LINE / 2)}b`,
    );
    assert.equal(markdownTitle(`---\ntitle: ${' '.repeat(LINE)}\n---\n# Other`), undefined);
    await turn();
  });

  it('handles a 256 KB run of backticks or tildes with no newline after it', GUARD, async () => {
    assert.equal(markdownTitle('`'.repeat(2 * LINE)), undefined);
    assert.equal(markdownTitle(`# T\n${'~'.repeat(LINE)}`), 'T');
    assert.equal(markdownTitle(`${'`'.repeat(LINE)}x\n# Hidden in an unclosed fence`), undefined);
    await turn();
  });

  it('strips a closing sequence only after a space or tab, as before', () => {
    assert.equal(markdownTitle('# Title ##'), 'Title');
    assert.equal(markdownTitle('  #\tTitle\t#\t'), 'Title');
    assert.equal(markdownTitle('# a#'), 'a#');
    assert.equal(markdownTitle('# ##'), '##');
    assert.equal(markdownTitle('# a # #'), 'a #');
    assert.equal(markdownTitle('#   \n# Later'), undefined);
    assert.equal(markdownTitle('#x\n# Later'), 'Later');
    assert.equal(markdownTitle('---\ntitle: "Quoted" \n---\n'), 'Quoted');
  });
});
