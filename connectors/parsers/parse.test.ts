import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failure, parseAll } from '../../test/fixtures/parsers/documents.ts';
import { FailureType } from '../shared/errors.ts';
import { binaryReason, declaredKind, knownBinaryFormat } from './detect.ts';

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('format detection', () => {
  it('names binary formats it recognises, whatever the file is called', async () => {
    const cases: [string, Buffer, RegExp][] = [
      ['photo.txt', bytes([0x89], 'PNG\r\n\x1a\n', [0, 0, 0, 13]), /it looks like a PNG image/],
      ['setup.exe', bytes('MZ', [0x90, 0, 3, 0, 0, 0, 4, 0]), /it looks like a Windows executable \(MZ header\)/],
      ['tool', bytes([0x7f], 'ELF', [2, 1, 1, 0, 0, 0]), /it looks like an ELF executable/],
      ['notes.md', bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), /it looks like a gzip archive/],
      [
        'old.doc',
        bytes([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], [0, 0, 0, 0]),
        /it looks like a legacy Office \(OLE2\) file/,
      ],
      ['db.txt', bytes('SQLite format 3\0', [0x10, 0]), /it looks like an SQLite database/],
      ['letter.txt', bytes('{\\rtf1\\ansi Hello}'), /it looks like an RTF document/],
    ];
    for (const [name, body, message] of cases) {
      await assert.rejects(
        parseAll(body, name),
        failure(
          FailureType.UnsupportedFormat,
          new RegExp(`^${name.replace('.', '\\.')} is not a supported document: ${message.source}`),
        ),
      );
    }
  });

  it('does not mistake text that starts like a magic number for binary', async () => {
    assert.equal((await parseAll('MZ-80 was a home computer.', 'history.txt')).text, 'MZ-80 was a home computer.');
    assert.equal((await parseAll('ID3 tags carry MP3 metadata.\n', 'id3.md')).meta.format, 'markdown');
  });

  it('refuses extensions that are never text even when the bytes say nothing', async () => {
    await assert.rejects(
      parseAll('a,b,c\n', 'table.xlsx'),
      failure(FailureType.UnsupportedFormat, /table\.xlsx is not a supported document: \.xlsx files are not supported/),
    );
  });

  it('classifies by extension first, then content type', () => {
    assert.equal(declaredKind('a/b/Report.PDF', undefined), 'pdf');
    assert.equal(declaredKind('notes.md', 'text/plain'), 'markdown');
    assert.equal(declaredKind('page.htm', undefined), 'html');
    assert.equal(declaredKind('doc', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'), 'docx');
    assert.equal(declaredKind('doc', 'text/csv'), 'text');
    assert.equal(declaredKind('.bashrc', 'application/octet-stream'), 'unknown');
  });

  it('tells binary from text by NUL bytes or a high share of control characters', () => {
    assert.match(binaryReason(bytes('abc', [0], 'def')) ?? '', /NUL bytes/);
    assert.equal(binaryReason(bytes('col1\tcol2\r\n\x1b[31mred\x1b[0m\f')), undefined);
    assert.match(binaryReason(bytes([1, 2, 3, 4], 'abcdefghijklmnop')) ?? '', /20% control characters/);
    assert.equal(knownBinaryFormat(bytes('MZ is a text')), undefined);
  });
});
