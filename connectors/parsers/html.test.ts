import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failure, parseAll } from '../../test/fixtures/parsers/documents.ts';
import { FailureType } from '../shared/errors.ts';
import { MAX_PARSER_DEPTH } from './html.ts';

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>  Fish &amp; Chips
     guide </title>
  <style>body { font-family: serif; } p::after { content: "never"; }</style>
  <script>var tricky = "</p><p>not text";</script>
</head>
<body>
  <noscript>Enable JavaScript</noscript>
  <template><p>template content</p></template>
  <header><nav><a href="/">Home</a> | <a href="/about">About</a></nav></header>
  <main>
    <article>
      <h1>Fish   &amp;
          Chips</h1>
      <p>A <b>classic</b>  <i>British</i>
         dish &mdash; served &quot;hot&quot; &lt;always&gt; at 5&nbsp;pm.<br>Second line&#x21;</p>
      <div><div><p>Deeply <span>nested</span></p> text after</div></div>
      <ul>
        <li>Cod</li>
        <li>Haddock <em>or</em> plaice</li>
      </ul>
      <table><tr><th>Item</th><th>Price</th></tr><tr><td>Fish</td><td>&pound;7</td></tr></table>
      <pre>
  indented   code
    keeps spacing</pre>
      <!-- a comment -->
      <script type="module">document.write("<b>nope</b>")</script>
    </article>
  </main>
  <footer>&copy; 2024 Café Ünïcode 😀</footer>
</body>
</html>`;

const EXPECTED = [
  'Home | About',
  'Fish & Chips',
  'A classic British dish — served "hot" <always> at 5\u00a0pm.\nSecond line!',
  'Deeply nested',
  'text after',
  'Cod\nHaddock or plaice',
  'Item Price\nFish £7',
  '  indented   code\n    keeps spacing',
  '© 2024 Café Ünïcode 😀',
].join('\n\n');

describe('html', () => {
  it('extracts readable text and the title', async () => {
    const { text, meta } = await parseAll(PAGE, 'guide.html');
    assert.equal(text, EXPECTED);
    assert.deepEqual(meta, { format: 'html', title: 'Fish & Chips guide' });
  });

  it('gives the same text when fed one byte at a time (entities and characters split across chunks)', async () => {
    // Padding pushes the interesting part past the bytes peeked for format detection.
    const padded = PAGE.replace('<body>', `<body>\n<!-- ${'x'.repeat(9000)} -->`);
    const { text, pieces } = await parseAll(padded, 'guide.html', { chunkSize: 1 });
    assert.equal(text, EXPECTED);
    assert.ok(pieces.length > 10, 'text is handed on while the markup streams in');
  });

  it('is picked by content type, or by a doctype when nothing else says', async () => {
    assert.equal((await parseAll('<p>x</p>', 'page', { contentType: 'text/html; charset=utf-8' })).meta.format, 'html');
    const sniffed = await parseAll('\n  <!doctype html><p>Hi <b>there</b></p>', 'download.bin.tmp');
    assert.deepEqual(sniffed, { text: 'Hi there', pieces: [8], meta: { format: 'html' } });
  });

  it('decodes a legacy charset declared in a <meta> tag', async () => {
    const latin1 = Buffer.from(
      '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252"></head><body><p>Caf\xe9 \x80 5</p></body></html>',
      'latin1',
    );
    assert.equal((await parseAll(latin1, 'old.htm')).text, 'Café € 5');
  });

  it('closes an unclosed <head> at <body>', async () => {
    assert.equal((await parseAll('<html><head><title>T</title><body><p>Body text</p>', 'x.html')).text, 'Body text');
  });

  it('rejects a page with no visible text as EmptyDocument', async () => {
    const blank = '<html><head><title>Only a title</title><script>x()</script></head><body> <div>&#32;</div> </body></html>';
    await assert.rejects(parseAll(blank, 'blank.html'), failure(FailureType.EmptyDocument, /blank\.html contains no text/));
  });

  it('rejects invalid UTF-8 as InvalidEncoding', async () => {
    const bad = Buffer.concat([Buffer.from('<p>ok '), Buffer.from([0xc3, 0x28]), Buffer.from('</p>')]);
    await assert.rejects(
      parseAll(bad, 'bad.html'),
      failure(FailureType.InvalidEncoding, /bad\.html is not valid UTF-8: .*byte offset 6/),
    );
  });

  // htmlparser2's own stack made deep nesting quadratic (the event loop blocked for seconds on a small file); past
  // MAX_PARSER_DEPTH the nesting is tracked apart. The timeout guards against a return; the text must be exact.
  describe('deeply nested markup', () => {
    const GUARD = { timeout: 10_000 };
    // node:test's timeout is a timer, and a timer cannot fire while a call holds the event loop: each guarded test ends
    // with a timer turn, so one that ran past its timeout fails instead of passing late.
    const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
    const deep = (n: number) => '<div>x'.repeat(n) + '</div>'.repeat(n);

    it('extracts 200,000 nested <div>s, open or closed', GUARD, async () => {
      assert.equal((await parseAll(`${'<div>'.repeat(200_000)}end`, 'deep.html')).text, 'end');
      for (const n of [50_000, 100_000]) {
        assert.equal((await parseAll(deep(n), 'deep.html')).text, Array(n).fill('x').join('\n'));
      }
      await turn();
    });

    it('keeps skipping, <pre> and end tags as below the depth cap', GUARD, async () => {
      const text = async (depth: number, inner: string) => (await parseAll('<div>'.repeat(depth) + inner, 'deep.html')).text;
      const inner = '<span>a <template><p>hidden</p></template><pre>  b\n c</pre> d<script>no()</script></span>e</div>f';
      assert.equal(await text(10, inner), 'a\n\n  b\n c\n\nde\nf');
      assert.equal(await text(MAX_PARSER_DEPTH + 10, inner), 'a\n\n  b\n c\n\nde\nf');
      // An end tag for an element below the deep ones closes them all: the text after it is not inside the <pre>.
      const below = (depth: number) => `<section>${'<div>'.repeat(depth)}<pre>  kept  </section>after   spaces`;
      assert.equal((await parseAll(below(10), 'deep.html')).text, '  kept  \n\nafter spaces');
      assert.equal((await parseAll(below(MAX_PARSER_DEPTH + 10), 'deep.html')).text, '  kept  \n\nafter spaces');
      await turn();
    });

    it('ignores 100,000 end tags that match nothing under deep nesting', GUARD, async () => {
      const html = `${'<b>'.repeat(50_000)}x${'</i>'.repeat(100_000)}${'<form>'.repeat(20_000)}y`;
      assert.equal((await parseAll(html, 'deep.html')).text, 'x\n\ny');
      await turn();
    });
  });
});
