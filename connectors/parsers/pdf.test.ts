import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPdf, failure, parseAll } from '../../test/fixtures/parsers/documents.ts';
import { flateBombPdf } from '../../test/fixtures/parsers/hostile.ts';
import { FailureType } from '../shared/errors.ts';
import { MiB, peakRssGrowth } from './bounded-test-support.ts';

const TWO_PAGES = buildPdf(
  [
    ['Quarterly report (draft)', 'Revenue grew by 12% in Q3.'],
    ['Page two: café, naïve, Ørsted', 'The end.'],
  ],
  { title: 'Q3 Report' },
);
const EXPECTED = 'Quarterly report (draft)\nRevenue grew by 12% in Q3.\n\nPage two: café, naïve, Ørsted\nThe end.';

describe('pdf', () => {
  it('extracts the text page by page, with title and page count', async () => {
    const { text, meta } = await parseAll(TWO_PAGES, 'report.pdf');
    assert.equal(text, EXPECTED);
    assert.deepEqual(meta, { format: 'pdf', title: 'Q3 Report', pages: 2 });
  });

  it('reads the same from small chunks, and trusts the %PDF- header over the name', async () => {
    const { text, meta } = await parseAll(TWO_PAGES, 'misnamed.txt', { chunkSize: 7, contentType: 'text/plain' });
    assert.equal(text, EXPECTED);
    assert.equal(meta.format, 'pdf');
  });

  it('recovers a document whose startxref points nowhere (pdf.js rebuilds the cross-reference table)', async () => {
    const broken = Buffer.from(TWO_PAGES.toString('latin1').replace(/startxref\n\d+/, 'startxref\n999999'), 'latin1');
    assert.equal((await parseAll(broken, 'report.pdf')).text, EXPECTED);
  });

  it('parses more PDFs at once than it runs threads for, and a reader that stops early frees its thread', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => parseAll(TWO_PAGES, `r${i}.pdf`)));
    for (const r of results) assert.equal(r.text, EXPECTED);
    // Over maxChars stops the reader after the first pieces; the next documents still parse.
    await assert.rejects(
      parseAll(TWO_PAGES, 'a.pdf', { limits: { maxChars: 30 } }),
      failure(FailureType.DocumentTooLarge, /maxChars/),
    );
    assert.equal((await parseAll(TWO_PAGES, 'b.pdf')).text, EXPECTED);
  });

  it('skips blank pages without adding separators for them', async () => {
    const { text, meta } = await parseAll(buildPdf([['one'], [], ['three']]), 'gaps.pdf');
    assert.equal(text, 'one\n\nthree');
    assert.equal(meta.pages, 3);
  });

  it('rejects a PDF with no text as EmptyDocument', async () => {
    await assert.rejects(
      parseAll(buildPdf([[], []]), 'scan.pdf'),
      failure(FailureType.EmptyDocument, /scan\.pdf contains no text \(no extractable text/),
    );
  });

  it('rejects more pages than maxPages as DocumentTooLarge', async () => {
    const pdf = buildPdf(Array.from({ length: 6 }, (_, i) => [`page ${i + 1}`]));
    await assert.rejects(
      parseAll(pdf, 'long.pdf', { limits: { maxPages: 5 } }),
      failure(FailureType.DocumentTooLarge, /long\.pdf is too large: it has 6 pages \(limit maxPages = 5\)/),
    );
    assert.equal((await parseAll(pdf, 'long.pdf', { limits: { maxPages: 6 } })).meta.pages, 6);
  });

  it('rejects a PDF over maxBytes before and while reading it', async () => {
    const limits = { maxBytes: TWO_PAGES.length - 1 };
    await assert.rejects(
      parseAll(TWO_PAGES, 'big.pdf', { limits, size: TWO_PAGES.length }),
      failure(
        FailureType.DocumentTooLarge,
        new RegExp(`it is ${TWO_PAGES.length} bytes \\(limit maxBytes = ${limits.maxBytes}\\)`),
      ),
    );
    // Larger than the bytes peeked for detection, so the limit trips while the PDF is being buffered.
    const long = buildPdf(Array.from({ length: 40 }, (_, i) => [`page ${i + 1} `.repeat(20)]));
    assert.ok(long.length > 16 * 1024);
    await assert.rejects(
      parseAll(long, 'long.pdf', { limits: { maxBytes: 12 * 1024 }, chunkSize: 1000 }),
      failure(FailureType.DocumentTooLarge, /long\.pdf is too large: more than 12288 bytes were read \(limit maxBytes = 12288\)/),
    );
  });

  it('rejects text over maxChars as DocumentTooLarge', async () => {
    await assert.rejects(
      parseAll(TWO_PAGES, 'report.pdf', { limits: { maxChars: 30 } }),
      failure(FailureType.DocumentTooLarge, /maxChars = 30/),
    );
  });

  it('rejects corrupt PDFs as CorruptDocument with a readable reason', async () => {
    await assert.rejects(
      parseAll('%PDF-1.7\nthis is not a pdf\n', 'report.pdf'),
      failure(FailureType.CorruptDocument, /^report\.pdf is not a valid PDF \(Invalid PDF structure\)$/),
    );
    await assert.rejects(
      parseAll(TWO_PAGES.subarray(0, 400), 'truncated.pdf'),
      failure(FailureType.CorruptDocument, /truncated\.pdf is not a valid PDF/),
    );
    const noObjects = Buffer.from(TWO_PAGES.toString('latin1').replace(/ obj\b/g, ' jbo'), 'latin1');
    await assert.rejects(
      parseAll(noObjects, 'garbled.pdf'),
      failure(FailureType.CorruptDocument, /garbled\.pdf is not a valid PDF/),
    );
    await assert.rejects(
      parseAll('just some text', 'fake.pdf'),
      failure(FailureType.CorruptDocument, /fake\.pdf is not a valid PDF \(no %PDF- header\)/),
    );
  });

  it('fails a PDF whose content stream is a flate bomb as DocumentTooLarge, without growing the process', async () => {
    const bomb = await flateBombPdf(512);
    assert.ok(bomb.length < 1_000_000, `a ${bomb.length}-byte PDF`);
    const growth = await peakRssGrowth(() =>
      assert.rejects(
        parseAll(bomb, 'bomb.pdf', { limits: { maxDecompressedBytes: 32 * MiB } }),
        failure(FailureType.DocumentTooLarge, /bomb\.pdf is too large: its streams decode to more than 33554432 bytes/),
      ),
    );
    assert.ok(growth < 200 * MiB, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
    // The next PDF gets a fresh thread and parses.
    assert.equal((await parseAll(TWO_PAGES, 'report.pdf')).text, EXPECTED);
  });

  it('holds a bomb to the thread buffer cap under the default limits (maxDecompressedBytes 256 MiB)', async () => {
    const bomb = await flateBombPdf(600);
    const growth = await peakRssGrowth(() =>
      assert.rejects(
        parseAll(bomb, 'bomb.pdf'),
        failure(
          FailureType.DocumentTooLarge,
          /its streams decode to more than 67108864 bytes \(limit the PDF thread's decoded buffers = 67108864\)/,
        ),
      ),
    );
    // The thread's heap (128 MB), its buffers (64 MiB) and the overshoot of one poll; 256 MiB of buffers grew it by 300+.
    assert.ok(growth < 200 * MiB, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
  });

  it('parses a larger document (throughput)', async (t) => {
    const line = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.';
    const pages = Array.from({ length: 300 }, (_, p) => Array.from({ length: 40 }, (_, l) => `${p + 1}.${l + 1} ${line}`));
    const pdf = buildPdf(pages);
    const started = process.hrtime.bigint();
    const { text, meta } = await parseAll(pdf, 'book.pdf');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(meta.pages, 300);
    assert.equal(text.split('\n\n').length, 300);
    assert.ok(text.startsWith(`1.1 ${line}\n1.2 ${line}`));
    assert.ok(text.endsWith(`300.40 ${line}`));
    const mib = pdf.length / 1024 / 1024;
    t.diagnostic(
      `pdf: ${mib.toFixed(2)} MiB, 300 pages in ${seconds.toFixed(2)} s = ${(mib / seconds).toFixed(1)} MiB/s, ${(300 / seconds).toFixed(0)} pages/s`,
    );
  });
});
