import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDocx, failure, parseAll } from '../../test/fixtures/parsers/documents.ts';
import { entriesOf, writeZip, type RawEntry } from '../../test/fixtures/parsers/hostile.ts';
import { FailureType } from '../shared/errors.ts';
import { deflatedZeros, MiB, peakRssGrowth } from './bounded-test-support.ts';
import { readCentralDirectory } from './zip.ts';

/** The bombs inflate to this; the process may grow by a small part of it. */
const BOMB_MIB = 100;
const MAX_GROWTH = 100 * MiB;

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
