import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHashEmbedder } from '../embedders/hash.ts';
import { ConnectorError } from '../shared/errors.ts';
import { collect, pieces } from './chunker.contract.ts';
import { ChunkerConfig, createChunker } from './index.ts';
import { TextBuffer } from './pack.ts';
import { SentenceScanner } from './sentence.ts';
import { createWhitespaceTokenCounter } from './whitespace-counter.ts';

const ws = createWhitespaceTokenCounter();
const whole = (text: string) => pieces(text, () => text.length);

function sentences(text: string): string[] {
  const tb = new TextBuffer();
  tb.append(text, 0);
  return new SentenceScanner(tb, 'en').scan(true).map(([a, b]) => text.slice(a, b).trim());
}

describe('sentence segmentation', () => {
  it('keeps abbreviations, initials and decimals inside sentences', () => {
    assert.deepEqual(sentences('See e.g. the docs. Dr. Smith paid $3.50 today. J. R. R. Tolkien wrote it! Is pi 3.14? Yes.'), [
      'See e.g. the docs.',
      'Dr. Smith paid $3.50 today.',
      'J. R. R. Tolkien wrote it!',
      'Is pi 3.14?',
      'Yes.',
    ]);
    assert.deepEqual(sentences('Use a list, e.g. The first one. Then stop.'), ['Use a list, e.g. The first one.', 'Then stop.']);
  });

  it('splits at CJK full stops, joins hard-wrapped lines, and breaks at blank lines', () => {
    assert.deepEqual(sentences('我们走吧。你好！真的吗？好的。'), ['我们走吧。', '你好！', '真的吗？', '好的。']);
    assert.deepEqual(sentences('A sentence wrapped\r\nover two lines. Next one\nalso.\n\nHeading without stop\n\nLast'), [
      'A sentence wrapped\r\nover two lines.',
      'Next one\nalso.',
      'Heading without stop',
      'Last',
    ]);
  });

  it('packs whole sentences up to the chunk size', async () => {
    const text = 'One two three. Four five six. Seven eight nine. Ten.';
    const chunks = await collect(createChunker({ kind: 'sentence', chunkSize: 8 }, ws), whole(text));
    assert.deepEqual(
      chunks.map((c) => [c.text, c.tokens]),
      [
        ['One two three. Four five six.', 8],
        ['Seven eight nine. Ten.', 6],
      ],
    );
  });
});

describe('fixed-size chunking', () => {
  it('fills chunks to the size and starts each one the overlap back', async () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const chunks = await collect(createChunker({ kind: 'fixed', chunkSize: 10, chunkOverlap: 3 }, ws), whole(words.join(' ')));
    assert.deepEqual(
      chunks.map((c) => c.text.split(' ')),
      [
        words.slice(0, 10),
        words.slice(7, 17),
        words.slice(14, 24),
        words.slice(21, 31),
        words.slice(28, 38),
        words.slice(35, 40),
      ],
    );
    assert.ok(chunks.every((c) => c.tokens === ws.count(c.text)));
  });

  it('cuts a word longer than a chunk between code points', async () => {
    const text = '😀'.repeat(30);
    const chunks = await collect(
      createChunker({ kind: 'fixed', chunkSize: 8, chunkOverlap: 0, maxChunkChars: 20 }, ws),
      whole(text),
    );
    assert.equal(chunks.map((c) => c.text).join(''), text);
    assert.ok(chunks.every((c) => c.text.length <= 20 && c.tokens <= 8));
  });
});

const MD = `Intro paragraph.

# Guide

Some text under the guide.

## Install

\`\`\`sh
# not a heading

npm install ragline
\`\`\`

| option | default |
|--------|---------|
| size   | 256     |

### Deep
Deep text.

Usage
-----

Use it.
`;

describe('Markdown-aware chunking', () => {
  it('starts a chunk at every heading and stamps the heading path', async () => {
    const chunks = await collect(createChunker({ kind: 'markdown', chunkSize: 64 }, ws), whole(MD));
    assert.deepEqual(
      chunks.map((c) => [c.headings, c.text.split('\n')[0]]),
      [
        [[], 'Intro paragraph.'],
        [['Guide'], '# Guide'],
        [['Guide', 'Install'], '## Install'],
        [['Guide', 'Install', 'Deep'], '### Deep'],
        [['Guide', 'Usage'], 'Usage'],
      ],
    );
    const install = chunks[2]!.text;
    assert.ok(install.includes('# not a heading\n\nnpm install ragline\n```'), 'the code fence stays whole');
    assert.ok(install.endsWith('| size   | 256     |'), 'the table stays whole');
  });

  it('keeps a fence or table whole in a chunk of its own when it does not fit beside the text before it', async () => {
    const chunks = await collect(createChunker({ kind: 'markdown', chunkSize: 11 }, ws), whole(MD));
    assert.ok(chunks.some((c) => c.text.startsWith('```sh') && c.text.endsWith('```')));
    assert.ok(chunks.some((c) => c.text.startsWith('| option') && c.text.endsWith('256     |')));
  });

  it('cuts an oversized fence between lines', async () => {
    const code = Array.from({ length: 30 }, (_, i) => `line ${i} of code`).join('\n');
    const text = `# Code\n\n\`\`\`\n${code}\n\`\`\`\n`;
    const chunks = await collect(createChunker({ kind: 'markdown', chunkSize: 20 }, ws), whole(text));
    assert.ok(chunks.length > 3 && chunks.every((c) => c.tokens <= 20 && c.headings?.[0] === 'Code'));
    assert.ok(
      chunks.slice(1).every((c) => /^(line \d+ of code|```)/.test(c.text)),
      'cuts fall between lines',
    );
  });
});

describe('semantic chunking', () => {
  it('splits where the topic changes', async () => {
    const hash = createHashEmbedder({ dims: 256 });
    const cats = Array.from({ length: 8 }, () => 'Cats purr and nap in the warm sun.').join(' ');
    const dbs = Array.from({ length: 8 }, () => 'Databases index rows for fast queries.').join(' ');
    const chunker = createChunker({ kind: 'semantic', chunkSize: 200, window: 64 }, ws, {
      embed: (t) => hash.embedDocuments(t),
      embedderId: hash.identity,
    });
    const chunks = await collect(chunker, whole(`${cats} ${dbs}`));
    assert.deepEqual(
      chunks.map((c) => c.text),
      [cats, dbs],
    );
    assert.match(chunker.spec, /emb=hash:words:256/);
  });
});

describe('createChunker', () => {
  it('validates the configuration', () => {
    assert.equal(ChunkerConfig.safeParse({ kind: 'fixed', chunkSize: 8, chunkOverlap: 8 }).success, false);
    assert.equal(ChunkerConfig.safeParse({ kind: 'paragraph' }).success, false);
    assert.deepEqual(
      ChunkerConfig.parse({ kind: 'recursive' }),
      ChunkerConfig.parse({ kind: 'recursive', chunkSize: 256, chunkOverlap: 32 }),
    );
    assert.throws(() => createChunker({ kind: 'semantic' }, ws), ConnectorError);
  });

  it('gives every strategy its own spec', () => {
    const kinds = ['recursive', 'fixed', 'sentence', 'markdown'] as const;
    const specs = kinds.map((kind) => createChunker({ kind, chunkSize: 64, chunkOverlap: 0 }, ws).spec);
    assert.equal(new Set(specs).size, kinds.length);
    assert.ok(specs.every((s) => s.includes('tok=whitespace')));
  });
});

describe('bounded memory', () => {
  const hash = createHashEmbedder({ dims: 32 });
  const deps = { embed: (t: string[]) => hash.embedDocuments(t), embedderId: hash.identity };
  const kinds = ['fixed', 'sentence', 'markdown', 'semantic'] as const;
  const para = 'A sentence of prose, e.g. this one. Another follows it!\nAnd a wrapped line.\n\n';
  /** About 1.5 MB of prose, then a 1 MB run with no whitespace or line break at all. */
  async function* big(): AsyncGenerator<string> {
    for (let i = 0; i < 160; i++) yield para.repeat(125);
    for (let i = 0; i < 100; i++) yield 'x'.repeat(10_000);
  }

  for (const kind of kinds) {
    it(`${kind} holds a bounded window whatever the document size`, async () => {
      let most = 0;
      const chunker = createChunker({ kind, chunkSize: 64 }, ws, deps, { onBuffered: (n) => (most = Math.max(most, n)) });
      let covered = 0;
      for await (const c of chunker.chunk(big())) covered = c.end;
      assert.equal(covered, 160 * 125 * para.length + 1_000_000);
      // The input batch (64 Ki) plus the text still undecided: a paragraph window of the sentence scanner at most.
      assert.ok(most < 64 * 1024 + 256 * 1024 + 64 * 16 * 2, `${kind} held ${most} units`);
    });
  }
});
