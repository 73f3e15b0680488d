import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32, deflateRawSync } from 'node:zlib';
import JSZip from 'jszip';
import { buildDocx, failure, parseAll } from '../../test/fixtures/parsers/documents.ts';
import { FailureType } from '../shared/errors.ts';
import { deflatedZeros, MiB, peakRssGrowth } from './bounded-test-support.ts';
import { readCentralDirectory } from './zip.ts';

/** The bombs inflate to this; the process may grow by a small part of it. */
const BOMB_MIB = 100;
const MAX_GROWTH = 100 * MiB;

interface RawEntry {
  name: string;
  /** Deflated (raw) bytes. */
  data: Buffer;
  crc: number;
  /** What the headers say the entry inflates to. */
  declaredSize: number;
}

describe('zip (hostile archives)', () => {
  it('refuses an entry hidden from the end record, which counts fewer entries than the directory holds', async () => {
    const parts = await entriesOf(await buildDocx(['Visible text']));
    const hidden: RawEntry = {
      name: 'word/document.xml',
      data: await deflatedZeros(BOMB_MIB, 'raw'),
      crc: 0,
      declaredSize: BOMB_MIB * MiB,
    };
    const zip = writeZip([...parts, hidden], { endRecordCount: parts.length });
    assert.ok(zip.length < 200_000, `a ${zip.length}-byte archive`);
    const growth = await peakRssGrowth(() =>
      assert.rejects(
        parseAll(zip, 'hidden.docx'),
        failure(
          FailureType.CorruptDocument,
          /hidden\.docx is not a valid DOCX \(the central directory holds \d+ entries, but its end record says \d+\)/,
        ),
      ),
    );
    assert.ok(growth < MAX_GROWTH, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
    assert.throws(() => readCentralDirectory(zip, 100), /end record says/);
  });

  it('refuses two entries of the same name (readers differ on which one they use)', async () => {
    const parts = await entriesOf(await buildDocx(['Visible text']));
    const again = parts.find((p) => p.name === 'word/document.xml') as RawEntry;
    const zip = writeZip([...parts, again]);
    await assert.rejects(
      parseAll(zip, 'twice.docx'),
      failure(FailureType.CorruptDocument, /word\/document\.xml appears twice in the central directory/),
    );
  });

  for (const name of ['word/document.xml', 'word/media/unread.bin']) {
    it(`stops inflating ${name} at its declared size when it says 10 bytes and inflates to ${BOMB_MIB} MiB`, async () => {
      const parts = await entriesOf(await buildDocx(['Visible text']));
      const bomb: RawEntry = { name, data: await deflatedZeros(BOMB_MIB, 'raw'), crc: 0, declaredSize: 10 };
      const zip = writeZip([...parts.filter((p) => p.name !== name), bomb]);
      const growth = await peakRssGrowth(() =>
        assert.rejects(
          parseAll(zip, 'liar.docx'),
          failure(
            FailureType.CorruptDocument,
            new RegExp(`liar\\.docx is not a valid DOCX \\(${name} inflates beyond its declared size\\)`),
          ),
        ),
      );
      assert.ok(growth < MAX_GROWTH, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
    });
  }

  it('never inflates an archive nested inside the package', async () => {
    const inner = writeZip([
      { name: 'zeros.bin', data: await deflatedZeros(BOMB_MIB, 'raw'), crc: 0, declaredSize: BOMB_MIB * MiB },
    ]);
    const docx = await buildDocx(['Outer text'], { extra: { 'word/embeddings/inner.zip': inner } });
    const growth = await peakRssGrowth(async () => assert.equal((await parseAll(docx, 'nested.docx')).text, 'Outer text'));
    assert.ok(growth < MAX_GROWTH, `the process grew by ${(growth / MiB).toFixed(0)} MiB`);
  });
});

/** A package's entries, each deflated again by hand so they can be rearranged and lied about. */
async function entriesOf(zip: Buffer): Promise<RawEntry[]> {
  const archive = await JSZip.loadAsync(zip);
  const out: RawEntry[] = [];
  for (const [name, file] of Object.entries(archive.files)) {
    if (file.dir) continue;
    const data = await file.async('nodebuffer');
    out.push({ name, data: deflateRawSync(data), crc: crc32(data), declaredSize: data.length });
  }
  return out;
}

/** A deflated ZIP written by hand; `endRecordCount` makes the end record count other than the directory holds. */
function writeZip(entries: RawEntry[], opts: { endRecordCount?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data, crc, declaredSize } of entries) {
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(declaredSize, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    locals.push(local, nameBytes, data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(declaredSize, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const count = opts.endRecordCount ?? entries.length;
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(count, 8);
  eocd.writeUInt16LE(count, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}
