import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { buildDocx, buildZip, failure, parseAll } from '../../test/fixtures/parsers/documents.ts';
import { FailureType } from '../shared/errors.ts';
import { MiB, peakRssGrowth } from './bounded-test-support.ts';
import { MAX_DOCX_XML_ELEMENTS } from './docx-protocol.ts';
import { readCentralDirectory } from './zip.ts';

describe('docx', () => {
  it('extracts the paragraphs and the title', async () => {
    const docx = await buildDocx(['First paragraph: Grüße 😀', 'Second & <last> paragraph.'], { title: 'Minutes & notes' });
    const { text, meta } = await parseAll(docx, 'minutes.docx', { chunkSize: 1000 });
    assert.equal(text, 'First paragraph: Grüße 😀\n\nSecond & <last> paragraph.');
    assert.deepEqual(meta, { format: 'docx', title: 'Minutes & notes' });
  });

  it('is recognised from its bytes whatever its name', async () => {
    const docx = await buildDocx(['Only paragraph', 'Another']);
    const { text, meta } = await parseAll(docx, 'upload.bin', { contentType: 'application/octet-stream' });
    assert.equal(text, 'Only paragraph\n\nAnother');
    assert.deepEqual(meta, { format: 'docx' });
  });

  it('rejects a package without word/document.xml as CorruptDocument', async () => {
    const zip = await buildZip({ '[Content_Types].xml': '<Types/>', 'notes.txt': 'hello' });
    await assert.rejects(
      parseAll(zip, 'broken.docx'),
      failure(FailureType.CorruptDocument, /broken\.docx is not a valid DOCX \(no word\/document\.xml/),
    );
  });

  it('rejects a damaged zip named .docx as CorruptDocument', async () => {
    const docx = await buildDocx(['text']);
    await assert.rejects(
      parseAll(docx.subarray(0, docx.length - 30), 'cut.docx'),
      failure(FailureType.CorruptDocument, /cut\.docx is not a valid DOCX \(end of central directory not found/),
    );
    await assert.rejects(
      parseAll('plain text', 'fake.docx'),
      failure(FailureType.CorruptDocument, /fake\.docx is not a valid DOCX \(not a ZIP package\)/),
    );
    const badXml = await buildDocx([]);
    const mangled = await buildZip({ ...(await zipFiles(badXml)), 'word/document.xml': '<w:document><unclosed' });
    await assert.rejects(parseAll(mangled, 'xml.docx'), failure(FailureType.CorruptDocument, /xml\.docx is not a valid DOCX \(/));
  });

  it('names other ZIP-based formats as UnsupportedFormat', async () => {
    const xlsx = await buildZip({ '[Content_Types].xml': '<Types/>', 'xl/workbook.xml': '<workbook/>' });
    await assert.rejects(
      parseAll(xlsx, 'sheet.xlsx'),
      failure(FailureType.UnsupportedFormat, /sheet\.xlsx is not a supported document: it looks like an XLSX spreadsheet/),
    );
    const zip = await buildZip({ 'a.txt': 'a' });
    await assert.rejects(
      parseAll(zip, 'bundle.zip'),
      failure(FailureType.UnsupportedFormat, /a ZIP archive without word\/document\.xml/),
    );
  });

  it('refuses a zip bomb from its declared sizes before inflating it', async () => {
    const docx = await buildDocx(['tiny'], { extra: { 'word/media/zeros.bin': new Uint8Array(2 * 1024 * 1024) } });
    assert.ok(docx.length < 20_000, 'two megabytes of zeros deflate to almost nothing');
    await assert.rejects(
      parseAll(docx, 'bomb.docx', { limits: { maxDecompressedBytes: 1024 * 1024 } }),
      failure(
        FailureType.DocumentTooLarge,
        /bomb\.docx is too large: its entries unpack to \d+ bytes \(limit maxDecompressedBytes = 1048576\)/,
      ),
    );
    assert.equal((await parseAll(docx, 'bomb.docx', { limits: { maxDecompressedBytes: 3 * 1024 * 1024 } })).text, 'tiny');
  });

  it('refuses an entry that inflates past the size it declares', async () => {
    const docx = await buildDocx(['tiny'], { extra: { 'word/media/zeros.bin': new Uint8Array(4 * 1024 * 1024) } });
    const lying = setDeclaredSize(docx, 'word/media/zeros.bin', 100);
    await assert.rejects(
      parseAll(lying, 'liar.docx'),
      failure(
        FailureType.CorruptDocument,
        /liar\.docx is not a valid DOCX \(word\/media\/zeros\.bin inflates beyond its declared size\)/,
      ),
    );
  });

  it('refuses an archive with too many entries before reading them', async () => {
    const docx = await buildDocx(['tiny']);
    const eocd = docx.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    docx.writeUInt16LE(20_000, eocd + 8);
    docx.writeUInt16LE(20_000, eocd + 10);
    await assert.rejects(
      parseAll(docx, 'many.docx'),
      failure(FailureType.DocumentTooLarge, /the archive has 20000 entries \(limit zip entries = 10000\)/),
    );
  });

  it('fails a DOCX of 90,000 paragraphs (a few KB packed) as DocumentTooLarge, without growing the process', async () => {
    const docx = await buildDocx(Array.from({ length: 90_000 }, () => 'x'));
    assert.ok(docx.length < 100_000, `a ${docx.length}-byte package`);
    const growth = await peakRssGrowth(() =>
      assert.rejects(
        parseAll(docx, 'paragraphs.docx'),
        failure(
          FailureType.DocumentTooLarge,
          new RegExp(
            `its XML has more than ${MAX_DOCX_XML_ELEMENTS} elements \\(limit DOCX XML elements = ${MAX_DOCX_XML_ELEMENTS}\\)`,
          ),
        ),
      ),
    );
    assert.ok(growth < 100 * MiB, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
  });

  it('parses a DOCX just under the element cap within the thread heap', async () => {
    // Four elements a paragraph (w:p, w:r, w:t and its text run's properties at most): just under the cap in all.
    const paragraphs = Math.floor(MAX_DOCX_XML_ELEMENTS / 4) - 1_000;
    const docx = await buildDocx(Array.from({ length: paragraphs }, (_, i) => `Paragraph ${i} of a long report.`));
    const { text } = await parseAll(docx, 'long.docx');
    assert.match(text, new RegExp(`Paragraph ${paragraphs - 1} of a long report`));
  });

  it('fails a DOCX whose document.xml is 50 MB of tiny elements before mammoth reads it', async () => {
    const { default: JSZip } = await import('jszip');
    const zip = await JSZip.loadAsync(await buildDocx(['tiny']));
    const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
    zip.file(
      'word/document.xml',
      `<w:document xmlns:w="${W}"><w:body>${'<w:p/>'.repeat((50 * 1024 * 1024) / 6)}</w:body></w:document>`,
    );
    const docx = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    assert.ok(docx.length < 1_000_000, `a ${docx.length}-byte package`);
    const growth = await peakRssGrowth(() =>
      assert.rejects(
        parseAll(docx, 'huge.docx'),
        failure(
          FailureType.DocumentTooLarge,
          /word\/document\.xml unpacks to \d+ bytes \(limit DOCX XML part bytes = 33554432\)/,
        ),
      ),
    );
    assert.ok(growth < 100 * MiB, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
  });

  it('parses more DOCX files at once than it runs threads for', async () => {
    const docs = await Promise.all(Array.from({ length: 5 }, (_, i) => buildDocx([`Document ${i}`])));
    const results = await Promise.all(docs.map((d, i) => parseAll(d, `d${i}.docx`)));
    assert.deepEqual(
      results.map((r) => r.text),
      docs.map((_, i) => `Document ${i}`),
    );
  });

  it('reads ZIP64 directories, and refuses sizes declared only there', async () => {
    const parts = await zipFiles(await buildDocx(['Sixty-four bits']));
    const zip64 = storedZip(
      Object.entries(parts).map(([name, data]) => ({ name, data })),
      { zip64End: true },
    );
    const { entries } = readCentralDirectory(zip64, 100);
    assert.deepEqual(entries.map((e) => e.name).sort(), Object.keys(parts).sort());
    assert.equal((await parseAll(zip64, 'big.docx')).text, 'Sixty-four bits');

    const declared = storedZip(
      Object.entries(parts).map(([name, data]) => ({
        name,
        data,
        declare: name === 'word/document.xml' ? 300 * 2 ** 30 : undefined,
      })),
    );
    await assert.rejects(
      parseAll(declared, 'huge.docx'),
      failure(FailureType.DocumentTooLarge, /unpack to 3221\d+ bytes \(limit maxDecompressedBytes/),
    );
  });
});

async function zipFiles(zip: Buffer): Promise<Record<string, Buffer>> {
  const { default: JSZip } = await import('jszip');
  const archive = await JSZip.loadAsync(zip);
  const out: Record<string, Buffer> = {};
  for (const [name, file] of Object.entries(archive.files)) if (!file.dir) out[name] = await file.async('nodebuffer');
  return out;
}

/** Rewrites an entry's uncompressed size in its local header and its central directory entry. */
function setDeclaredSize(zip: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let at = 0; at < out.length - 4; at++) {
    const sig = out.readUInt32LE(at);
    if (sig === 0x04034b50 && out.toString('utf8', at + 30, at + 30 + out.readUInt16LE(at + 26)) === name)
      out.writeUInt32LE(size, at + 22);
    if (sig === 0x02014b50 && out.toString('utf8', at + 46, at + 46 + out.readUInt16LE(at + 28)) === name)
      out.writeUInt32LE(size, at + 24);
  }
  return out;
}

/**
 * A stored (uncompressed) ZIP written by hand, for what jszip cannot produce: ZIP64 end records, and ZIP64 extra
 * fields declaring an uncompressed size larger than the data.
 */
function storedZip(
  files: { name: string; data: Buffer; declare?: number | undefined }[],
  opts: { zip64End?: boolean } = {},
): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data, declare } of files) {
    const nameBytes = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    locals.push(local, nameBytes, data);

    const extra = Buffer.alloc(declare === undefined ? 0 : 20);
    if (declare !== undefined) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(16, 2);
      extra.writeBigUInt64LE(BigInt(declare), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(45, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(declare === undefined ? data.length : 0xffffffff, 20);
    central.writeUInt32LE(declare === undefined ? data.length : 0xffffffff, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBytes, extra);
    offset += 30 + nameBytes.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  if (opts.zip64End) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(files.length), 24);
    record.writeBigUInt64LE(BigInt(files.length), 32);
    record.writeBigUInt64LE(BigInt(cd.length), 40);
    record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
    eocd.writeUInt16LE(0xffff, 8);
    eocd.writeUInt16LE(0xffff, 10);
    eocd.writeUInt32LE(0xffffffff, 12);
    eocd.writeUInt32LE(0xffffffff, 16);
  } else {
    eocd.writeUInt16LE(files.length, 8);
    eocd.writeUInt16LE(files.length, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(offset, 16);
  }
  return Buffer.concat([...locals, cd, ...tail, eocd]);
}
