import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { chunked, collect, failure, parseAll } from '../../test/fixtures/parsers/documents.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { findInvalidUtf8 } from './decode.ts';
import { markdownTitle } from './markdown.ts';
import { parseDocument } from './parse.ts';
import { DEFAULT_PARSE_LIMITS } from './parser.ts';

const MIXED = 'Grüße, 世界! Emoji 👋🏽 and math 𝔸𝔹 — “quotes”.\nSecond line\tends here.\n';

describe('text', () => {
  it('passes plain text through unchanged', async () => {
    const { text, meta } = await parseAll('Hello,\r\n  world.  \n\nBye.\n', 'notes.txt');
    assert.equal(text, 'Hello,\r\n  world.  \n\nBye.\n');
    assert.deepEqual(meta, { format: 'text' });
  });

  it('decodes multi-byte UTF-8 split across 1-byte chunks exactly as in one chunk', async () => {
    // Longer than the 8 KiB peeked to detect the format, so most of it streams through byte by byte.
    const long = MIXED.repeat(200);
    const whole = await parseAll(long, 'mixed.txt');
    const bytewise = await parseAll(long, 'mixed.txt', { chunkSize: 1 });
    const odd = await parseAll(long, 'mixed.txt', { chunkSize: 3 });
    assert.equal(whole.text, long);
    assert.equal(bytewise.text, long);
    assert.equal(odd.text, long);
    assert.ok(bytewise.pieces.length > 1000, 'pieces are yielded as bytes arrive');
  });

  it('strips a UTF-8 byte order mark and nothing else', async () => {
    const { text } = await parseAll(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(MIXED)]), 'bom.txt', {
      chunkSize: 1,
    });
    assert.equal(text, MIXED);
  });

  it('decodes UTF-16 LE and BE files with a byte order mark', async () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(MIXED, 'utf16le')]);
    const be = Buffer.from(le);
    be.swap16();
    assert.equal((await parseAll(le, 'le.txt', { chunkSize: 1 })).text, MIXED);
    assert.equal((await parseAll(be, 'be.txt', { chunkSize: 5 })).text, MIXED);
  });

  it('honours a charset in the content type', async () => {
    const latin1 = Buffer.from('Café déjà vu', 'latin1');
    const { text } = await parseAll(latin1, 'legacy.txt', { contentType: 'text/plain; charset=ISO-8859-1' });
    assert.equal(text, 'Café déjà vu');
  });

  it('treats an unknown extension with text content as text', async () => {
    const { text, meta } = await parseAll('key = value\n', 'settings.conf', { contentType: 'application/octet-stream' });
    assert.equal(text, 'key = value\n');
    assert.equal(meta.format, 'text');
  });

  it('hands on bounded pieces even when the source pushes one huge chunk', async () => {
    const big = 'abcdefghij'.repeat(400_000); // 4 MB
    const parsed = await parseDocument({ body: Readable.from([Buffer.from(big)]), filename: 'big.txt' });
    const { text, pieces } = await collect(parsed);
    assert.equal(text.length, big.length);
    assert.ok(Math.max(...pieces) <= 64 * 1024, `largest piece ${Math.max(...pieces)}`);
  });

  it('parses a 50 MB stream with bounded memory', async (t) => {
    const line = 'The quick brown fox jumps over the lazy dog. Ünïcödé 😀 ∑\n';
    const lineBytes = Buffer.from(line);
    const total = 50 * 1024 * 1024;
    async function* generate() {
      // 64 KiB chunks that cut lines (and multi-byte characters) at arbitrary points.
      const block = Buffer.concat(Array.from({ length: Math.ceil((64 * 1024) / lineBytes.length) + 1 }, () => lineBytes));
      let sent = 0;
      let phase = 0;
      while (sent < total) {
        const size = Math.min(64 * 1024, total - sent);
        const start = phase % lineBytes.length;
        yield block.subarray(start, start + size);
        phase = (phase + size) % lineBytes.length;
        sent += size;
      }
    }
    const started = process.hrtime.bigint();
    const parsed = await parseDocument({ body: Readable.from(generate()), filename: 'huge.txt' });
    let chars = 0;
    let largest = 0;
    let lines = 0;
    for await (const piece of parsed.text) {
      chars += piece.length;
      largest = Math.max(largest, piece.length);
      for (let at = piece.indexOf('\n'); at >= 0; at = piece.indexOf('\n', at + 1)) lines++;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.ok(largest <= 1024 * 1024, `largest piece ${largest}`);
    assert.equal(lines, Math.floor(total / lineBytes.length));
    assert.equal(chars, Math.floor(total / lineBytes.length) * line.length + partialLineChars(line, total % lineBytes.length));
    assert.deepEqual(await parsed.meta, { format: 'text' });
    t.diagnostic(`text: 50 MiB in ${seconds.toFixed(2)} s = ${(50 / seconds).toFixed(0)} MiB/s`);
  });
});

/** UTF-16 length of the first `bytes` bytes of `line` (whole characters only: the stream ends on a boundary). */
function partialLineChars(line: string, bytes: number): number {
  return Buffer.from(line).subarray(0, bytes).toString('utf8').length;
}

describe('markdown', () => {
  const SOURCE = '\ufeff---\ntitle: "Release notes"\n---\n# Heading\r\n\n* item  \n\n```js\n# not a heading\n```\n';

  it('keeps the Markdown source as-is apart from the byte order mark', async () => {
    const { text, meta } = await parseAll(SOURCE, 'README.md', { chunkSize: 2 });
    assert.equal(text, SOURCE.slice(1));
    assert.deepEqual(meta, { format: 'markdown', title: 'Release notes' });
  });

  it('is picked by extension or content type', async () => {
    assert.equal((await parseAll('# A\n', 'doc.markdown')).meta.format, 'markdown');
    assert.equal((await parseAll('# A\n', 'doc', { contentType: 'text/markdown; charset=utf-8' })).meta.format, 'markdown');
  });

  it('takes the title from the first level-1 heading outside code', () => {
    assert.equal(markdownTitle('```sh\n# comment\n```\n\n## Sub\n# Real title #\n'), 'Real title');
    assert.equal(markdownTitle('no heading here'), undefined);
    assert.equal(markdownTitle('---\nauthor: x\n---\n# From heading\n'), 'From heading');
  });
});

describe('text failures', () => {
  it('rejects a zero-byte file as EmptyDocument, with or without a declared size', async () => {
    await assert.rejects(parseAll('', 'empty.txt', { size: 0 }), failure(FailureType.EmptyDocument, /empty\.txt is empty/));
    await assert.rejects(parseAll('', 'empty.txt'), failure(FailureType.EmptyDocument));
  });

  it('rejects whitespace-only text as EmptyDocument, from the iterator and from meta', async () => {
    const parsed = await parseDocument({ body: chunked(' \n\t\r\n   '), filename: 'blank.txt' });
    const consume = async () => {
      for await (const _ of parsed.text);
    };
    await assert.rejects(consume(), failure(FailureType.EmptyDocument, /blank\.txt contains no text/));
    await assert.rejects(parsed.meta, failure(FailureType.EmptyDocument));
  });

  it('passes on more than a megabyte of leading whitespace once text follows', async () => {
    const body = ' '.repeat(3 * 1024 * 1024) + 'finally';
    const { text } = await parseAll(body, 'late.txt');
    assert.equal(text, body);
  });

  it('rejects binary data named .txt as UnsupportedFormat', async () => {
    const nul = Buffer.from('looks like text\0\0\x01 but is not');
    await assert.rejects(
      parseAll(nul, 'data.txt'),
      failure(FailureType.UnsupportedFormat, /data\.txt .*looks binary \(NUL bytes/),
    );
    const controls = Buffer.from(Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? 0x02 : 0x41)));
    await assert.rejects(
      parseAll(controls, 'ctl.txt'),
      failure(FailureType.UnsupportedFormat, /looks binary \(\d+% control characters/),
    );
  });

  it('reports invalid UTF-8 as InvalidEncoding with its byte offset, however the bytes are chunked', async () => {
    // Early (inside the bytes peeked for detection) and late (streamed through the decoder chunk by chunk).
    for (const prefix of ['héllo wörld ', 'a'.repeat(9000) + 'héllo wörld ']) {
      const bad = Buffer.concat([Buffer.from(prefix), Buffer.from([0xe2, 0x28, 0xa1]), Buffer.from(' tail')]);
      const expected = new RegExp(`at byte offset ${Buffer.byteLength(prefix)}$`);
      for (const chunkSize of [1, 2, 13, 1024]) {
        await assert.rejects(parseAll(bad, 'bad.txt', { chunkSize }), failure(FailureType.InvalidEncoding, expected));
      }
    }
  });

  it('reports a character cut off at the end of the file, and meta rejects too', async () => {
    const cut = Buffer.concat([Buffer.from('abc'), Buffer.from('😀').subarray(0, 3)]);
    const parsed = await parseDocument({ body: chunked(cut, 1), filename: 'cut.txt' });
    await assert.rejects(
      collect(parsed),
      failure(FailureType.InvalidEncoding, /not valid UTF-8: bad byte sequence at byte offset 3/),
    );
    await assert.rejects(parsed.meta, failure(FailureType.InvalidEncoding));
  });

  it('finds ill-formed UTF-8 the way TextDecoder does', () => {
    const at = (bytes: number[], final = true) => findInvalidUtf8(Uint8Array.from(bytes), 0, final);
    assert.equal(at([0x41, 0xc3, 0xa9]), -1);
    assert.equal(at([0x41, 0xc0, 0x80]), 1); // overlong
    assert.equal(at([0x41, 0xed, 0xa0, 0x80]), 1); // UTF-16 surrogate
    assert.equal(at([0xf4, 0x90, 0x80, 0x80]), 0); // above U+10FFFF
    assert.equal(at([0x41, 0xf0, 0x9f]), 1);
    assert.equal(at([0x41, 0xf0, 0x9f], false), -1);
    assert.equal(at([0x80]), 0);
    for (const bytes of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe0, 0x80, 0x80], [0xf8], [0xc3, 0x41]]) {
      assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)), TypeError);
    }
  });

  it('rejects text over maxChars as DocumentTooLarge naming the limit', async () => {
    await assert.rejects(
      parseAll('x'.repeat(5000), 'long.txt', { limits: { maxChars: 1000 }, chunkSize: 100 }),
      failure(FailureType.DocumentTooLarge, /long\.txt is too large: .*\(limit maxChars = 1000\)/),
    );
  });

  it('refuses an object over maxBytes from its declared size without reading it', async () => {
    let reads = 0;
    const body = new Readable({
      read() {
        reads++;
        this.push(null);
      },
    });
    await assert.rejects(
      parseDocument({ body, filename: 'big.txt', size: 2000 }, { ...DEFAULT_PARSE_LIMITS, maxBytes: 1000 }),
      failure(FailureType.DocumentTooLarge, /it is 2000 bytes \(limit maxBytes = 1000\)/),
    );
    assert.equal(reads, 0);
    assert.ok(body.destroyed);
  });

  it('stops reading as soon as an unannounced object passes maxBytes', async () => {
    let pulled = 0;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 10_000; i++) {
          pulled++;
          yield Buffer.alloc(1000, 0x61);
        }
      })(),
    );
    const parsed = await parseDocument({ body, filename: 'endless.txt' }, { ...DEFAULT_PARSE_LIMITS, maxBytes: 50_000 });
    await assert.rejects(
      collect(parsed),
      failure(FailureType.DocumentTooLarge, /more than 50000 bytes were read \(limit maxBytes = 50000\)/),
    );
    assert.ok(pulled < 100, `pulled ${pulled} chunks`);
    assert.ok(body.destroyed);
  });

  it('reports a failing source stream as retryable Unavailable', async () => {
    const body = Readable.from(
      (async function* () {
        yield Buffer.alloc(10_000, 0x61); // past the bytes peeked to detect the format
        throw new Error('socket hang up');
      })(),
    );
    const parsed = await parseDocument({ body, filename: 'flaky.txt' });
    await assert.rejects(collect(parsed), (err) => {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.type, FailureType.Unavailable);
      assert.equal(err.retryable, true);
      assert.match(err.message, /reading flaky\.txt failed: socket hang up/);
      return true;
    });
  });

  it('releases the source when the consumer stops early, and the text can be read only once', async () => {
    const body = chunked('word '.repeat(100_000), 1000);
    const parsed = await parseDocument({ body, filename: 'early.txt' });
    for await (const _ of parsed.text) break;
    assert.ok(body.destroyed);
    await assert.rejects(parsed.meta, /stopped before the end/);
    assert.throws(() => parsed.text[Symbol.asyncIterator](), /can be read only once/);
  });
});
