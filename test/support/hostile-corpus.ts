// `node test/support/hostile-corpus.ts <dir>`: writes the hostile-input corpus into <dir> (which must not exist or be
// empty) and prints its manifest as JSON. Every file is built here, in code: nothing hostile is committed as a binary.
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { deflatedZeros, MiB } from '../../connectors/parsers/bounded-test-support.ts';
import { FailureType } from '../../connectors/shared/errors.ts';
import { buildDocx, buildPdf, buildZip } from '../fixtures/parsers/documents.ts';
import { entriesOf, flateBombPdf, writeZip, type RawEntry } from '../fixtures/parsers/hostile.ts';

/**
 * What a run over the folder must make of a file: `ok` (ingested), the failure type its ledger row ends with, or
 * `skipped`: not a regular file (symlink, FIFO) or hidden, so the folder source never lists it and it has no row.
 */
export type Expected = 'ok' | 'skipped' | FailureType;

export interface HostileFile {
  /** The kind of hostility; a kind may need several files (twins that must stay two documents). */
  kind: string;
  /** Path relative to the corpus folder. */
  path: string;
  expected: Expected;
}

type Body = string | Uint8Array;
interface Kind {
  kind: string;
  expected: Expected;
  /** File name (defaults to the kind) and body; several for kinds made of more than one file. */
  files?: () => Promise<Array<{ name: string; body: Body }>>;
  body?: () => Body | Promise<Body>;
  ext?: string;
  /** Makes something other than a regular file (symlinks, FIFOs) in the corpus folder; returns the names made. */
  make?: (dir: string, kind: string) => string[];
}

const W_NS = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
const { UnsupportedFormat, DocumentTooLarge, CorruptDocument, EmptyDocument, InvalidEncoding } = FailureType;

const words = (n: number): string =>
  Array.from({ length: n }, (_, i) => ['ledger', 'worker', 'chunk', 'vector', 'retry', 'Temporal'][i % 6]).join(' ');

/** A docx whose document.xml is replaced by `xml` (deflated by jszip: megabytes of repeats pack into kilobytes). */
async function docxWithDocument(xml: string): Promise<Buffer> {
  const { default: JSZip } = await import('jszip');
  const zip = await JSZip.loadAsync(await buildDocx(['tiny']));
  zip.file('word/document.xml', xml);
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

/** A PDF whose trailer names an encryption dictionary with an unknown user password (pdf.js asks for one). */
function encryptedPdf(): Buffer {
  const plain = buildPdf([['Secret text']]).toString('latin1');
  let body = plain.slice(0, plain.indexOf('xref\n'));
  const count = [...body.matchAll(/^\d+ 0 obj$/gm)].length;
  body += `${count + 1} 0 obj\n<< /Filter /Standard /V 1 /R 2 /O <${'a5'.repeat(32)}> /U <${'5a'.repeat(32)}> /P -44 >>\nendobj\n`;
  const offsets = [...body.matchAll(/^\d+ 0 obj$/gm)].map((m) => m.index);
  const xref = Buffer.byteLength(body, 'latin1');
  const root = /\/Root (\d+) 0 R/.exec(plain)?.[1];
  const id = `<${'01'.repeat(16)}>`;
  return Buffer.from(
    `${body}xref\n0 ${count + 2}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}` +
      `trailer\n<< /Size ${count + 2} /Root ${root} 0 R /Encrypt ${count + 1} 0 R /ID [${id} ${id}] >>\nstartxref\n${xref}\n%%EOF\n`,
    'latin1',
  );
}

function utf16(text: string, order: 'le' | 'be', bom: boolean): Buffer {
  const le = Buffer.from((bom ? '\ufeff' : '') + text, 'utf16le');
  return order === 'le' ? le : le.swap16();
}

const KINDS: Kind[] = [
  // Archives and parsers' bombs.
  {
    kind: 'docx-50mb-of-tiny-elements',
    ext: 'docx',
    expected: DocumentTooLarge,
    body: () =>
      docxWithDocument(`<w:document xmlns:w="${W_NS}"><w:body>${'<w:p/>'.repeat((50 * MiB) / 6)}</w:body></w:document>`),
  },
  {
    kind: 'docx-90000-paragraphs',
    ext: 'docx',
    expected: DocumentTooLarge,
    body: () =>
      docxWithDocument(
        `<w:document xmlns:w="${W_NS}"><w:body>${'<w:p><w:r><w:t>x</w:t></w:r></w:p>'.repeat(90_000)}</w:body></w:document>`,
      ),
  },
  {
    kind: 'zip-end-record-hides-a-408mb-entry',
    ext: 'docx',
    expected: CorruptDocument,
    body: async () => {
      const parts = await entriesOf(await buildDocx(['Visible text']));
      const hidden: RawEntry = {
        name: 'word/document.xml',
        data: await deflatedZeros(408, 'raw'),
        crc: 0,
        declaredSize: 408 * MiB,
      };
      return writeZip([...parts, hidden], { endRecordCount: parts.length });
    },
  },
  {
    kind: 'docx-entry-inflates-past-its-declared-size',
    ext: 'docx',
    expected: CorruptDocument,
    body: async () => {
      const parts = await entriesOf(await buildDocx(['Visible text']));
      const liar: RawEntry = { name: 'word/media/zeros.bin', data: await deflatedZeros(100, 'raw'), crc: 0, declaredSize: 10 };
      return writeZip([...parts, liar]);
    },
  },
  {
    kind: 'docx-300mb-of-zeros-declared',
    ext: 'docx',
    expected: DocumentTooLarge,
    body: async () => {
      const parts = await entriesOf(await buildDocx(['Visible text']));
      const zeros: RawEntry = {
        name: 'word/media/zeros.bin',
        data: await deflatedZeros(300, 'raw'),
        crc: 0,
        declaredSize: 300 * MiB,
      };
      return writeZip([...parts, zeros]);
    },
  },
  { kind: 'pdf-flate-bomb-600mb', ext: 'pdf', expected: DocumentTooLarge, body: () => flateBombPdf(600) },
  { kind: 'pdf-encrypted', ext: 'pdf', expected: UnsupportedFormat, body: encryptedPdf },
  {
    kind: 'pdf-truncated',
    ext: 'pdf',
    expected: CorruptDocument,
    body: () => buildPdf([['Cut short', 'here']]).subarray(0, 300),
  },
  { kind: 'pdf-without-text', ext: 'pdf', expected: EmptyDocument, body: () => buildPdf([[], []]) },
  {
    kind: 'docx-truncated',
    ext: 'docx',
    expected: CorruptDocument,
    body: async () => (await buildDocx(['Cut'])).subarray(0, 200),
  },
  {
    kind: 'zip-truncated',
    ext: 'zip',
    expected: UnsupportedFormat,
    body: async () => (await buildZip({ 'a.txt': 'a' })).subarray(0, 60),
  },
  {
    kind: 'zip-inside-zip',
    ext: 'zip',
    expected: UnsupportedFormat,
    body: async () => buildZip({ 'inner.zip': await buildZip({ 'a.txt': words(100) }) }),
  },
  {
    kind: 'xlsx-shaped-package',
    ext: 'xlsx',
    expected: UnsupportedFormat,
    body: () => buildZip({ '[Content_Types].xml': '<Types/>', 'xl/workbook.xml': '<workbook/>' }),
  },
  // Wrong names for the bytes.
  { kind: 'pdf-bytes-named-markdown', ext: 'md', expected: 'ok', body: () => buildPdf([['A PDF under a .md name']]) },
  { kind: 'text-named-pdf', ext: 'pdf', expected: CorruptDocument, body: () => 'Plain text wearing a .pdf name.' },
  { kind: 'binary-garbage-named-txt', ext: 'txt', expected: UnsupportedFormat, body: () => randomBytes(64 * 1024) },
  { kind: 'gzip-named-txt', ext: 'txt', expected: UnsupportedFormat, body: () => Buffer.from('1f8b0800000000000003', 'hex') },
  {
    kind: 'png-image',
    ext: 'png',
    expected: UnsupportedFormat,
    body: () => Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
  },
  // Encodings.
  { kind: 'nul-bytes', ext: 'txt', expected: UnsupportedFormat, body: () => `before\0\0\0after ${words(50)}` },
  {
    kind: 'utf16le-with-bom',
    ext: 'txt',
    expected: 'ok',
    body: () => utf16(`UTF-16 little endian: Grüße 😀 ${words(40)}`, 'le', true),
  },
  {
    kind: 'utf16be-with-bom',
    ext: 'txt',
    expected: 'ok',
    body: () => utf16(`UTF-16 big endian: Grüße 😀 ${words(40)}`, 'be', true),
  },
  // Without a BOM UTF-16 is every other byte NUL: refused as binary rather than guessed.
  {
    kind: 'utf16le-without-bom',
    ext: 'txt',
    expected: UnsupportedFormat,
    body: () => utf16(`no mark ${words(40)}`, 'le', false),
  },
  {
    kind: 'utf16be-without-bom',
    ext: 'txt',
    expected: UnsupportedFormat,
    body: () => utf16(`no mark ${words(40)}`, 'be', false),
  },
  { kind: 'utf8-with-bom', ext: 'md', expected: 'ok', body: () => `\ufeff# Marked\n\n${words(60)}` },
  {
    kind: 'invalid-utf8',
    ext: 'txt',
    expected: InvalidEncoding,
    body: () => Buffer.concat([Buffer.from(words(200)), Buffer.from([0xc3, 0x28, 0xff])]),
  },
  {
    kind: 'utf8-overlong-and-surrogate',
    ext: 'txt',
    expected: InvalidEncoding,
    body: () => Buffer.concat([Buffer.from('slash '), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80])]),
  },
  {
    kind: 'latin1-bytes',
    ext: 'txt',
    expected: InvalidEncoding,
    body: () => Buffer.from('caf\xe9 au lait, na\xefve r\xe9sum\xe9', 'latin1'),
  },
  {
    kind: 'html-windows-1252-meta',
    ext: 'html',
    expected: 'ok',
    body: () =>
      Buffer.from(
        '<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e</p></body></html>',
        'latin1',
      ),
  },
  {
    kind: 'control-characters',
    ext: 'txt',
    expected: 'ok',
    body: () => Array.from({ length: 400 }, (_, i) => `line ${i}\x07\x1b[31m red\x1b[0m\x08\r\f`).join('\n'),
  },
  {
    kind: 'control-characters-dense',
    ext: 'txt',
    expected: UnsupportedFormat,
    body: () => Buffer.from(Array.from({ length: 8192 }, (_, i) => (i % 3 === 0 ? 0x01 : 0x61))),
  },
  // Sizes and shapes of text.
  { kind: 'empty', ext: 'txt', expected: EmptyDocument, body: () => '' },
  { kind: 'one-byte', ext: 'txt', expected: 'ok', body: () => 'a' },
  { kind: 'whitespace-only', ext: 'txt', expected: EmptyDocument, body: () => ' \t\n'.repeat(1000) },
  { kind: 'newlines-5mb', ext: 'txt', expected: EmptyDocument, body: () => '\n'.repeat(5 * MiB) },
  { kind: 'single-line-10mb', ext: 'txt', expected: 'ok', body: () => `${words((10 * MiB) / 6.5)}`.slice(0, 10 * MiB) },
  { kind: 'one-word-1mb', ext: 'txt', expected: 'ok', body: () => 'x'.repeat(MiB) },
  { kind: 'emoji-1mb', ext: 'txt', expected: 'ok', body: () => '😀🧪👩‍👩‍👧‍👦🏳️‍🌈'.repeat(MiB / 44) },
  { kind: 'combining-mark-storm', ext: 'txt', expected: 'ok', body: () => `Z${'\u0301\u0336\u0317'.repeat(100_000)} end` },
  {
    kind: 'rtl-overrides',
    ext: 'txt',
    expected: 'ok',
    body: () => `\u202eevil.exe\u202c \u2067isolated\u2069 ${words(100)}`.repeat(50),
  },
  { kind: 'markdown-64kb-title-line', ext: 'md', expected: 'ok', body: () => `# ${'a \t'.repeat((64 * 1024) / 3)}x\n\nBody.\n` },
  {
    kind: 'markdown-50000-headings',
    ext: 'md',
    expected: 'ok',
    body: () => Array.from({ length: 50_000 }, (_, i) => `# H${i}\n`).join(''),
  },
  { kind: 'sentences-dr-repeated', ext: 'txt', expected: 'ok', body: () => `${'Dr. '.repeat(20_000)}Smith left.` },
  {
    kind: 'html-50000-nested-divs',
    ext: 'html',
    expected: 'ok',
    body: () => `${'<div>x'.repeat(50_000)}${'</div>'.repeat(50_000)}`,
  },
  {
    kind: 'html-giant-attribute',
    ext: 'html',
    expected: 'ok',
    body: () => `<html><body><p data-x="${'a'.repeat(8 * MiB)}">After the attribute.</p></body></html>`,
  },
  {
    kind: 'html-script-only',
    ext: 'html',
    expected: EmptyDocument,
    body: () => `<html><script>${'var a = 1;'.repeat(10_000)}</script></html>`,
  },
  // Names.
  {
    kind: `name-255-bytes-${'n'.repeat(255 - 'name-255-bytes-'.length - 4)}`,
    ext: 'txt',
    expected: 'ok',
    body: () => 'A file with the longest name.',
  },
  { kind: '  name with  spaces  ', ext: 'txt', expected: 'ok', body: () => 'Spaces around and inside the name.' },
  { kind: 'name-with\nnewline', ext: 'txt', expected: 'ok', body: () => 'A newline in the name.' },
  { kind: 'name-with\ttab', ext: 'txt', expected: 'ok', body: () => 'A tab in the name.' },
  {
    kind: 'name-percent-encoding-twins',
    expected: 'ok',
    // '%41' must not be read as 'A': two files, two documents.
    files: async () => [
      { name: 'name-percent-%41%2F%00.txt', body: 'Percent signs in the name.' },
      { name: 'name-percent-A%2F%00.txt', body: 'An A where the other has %41.' },
    ],
  },
  {
    kind: 'name-unicode-normalisation-twins',
    expected: 'ok',
    files: async () => [
      { name: 'name-caf\u00e9.txt', body: 'NFC: one code point for e-acute.' },
      { name: 'name-cafe\u0301.txt', body: 'NFD: e and a combining acute accent.' },
    ],
  },
  {
    kind: 'path-40-folders-deep',
    expected: 'ok',
    files: async () => [
      { name: `${Array.from({ length: 40 }, (_, i) => `d${i}`).join('/')}/deep.txt`, body: 'Forty folders down.' },
    ],
  },
  // Things that are not regular files.
  { kind: '.hidden-file', ext: 'txt', expected: 'skipped', body: () => 'Hidden files are not listed.' },
  {
    kind: 'symlink-loop',
    expected: 'skipped',
    make: (dir, kind) => {
      symlinkSync(join(dir, `${kind}-b`), join(dir, `${kind}-a`));
      symlinkSync(join(dir, `${kind}-a`), join(dir, `${kind}-b`));
      return [`${kind}-a`, `${kind}-b`];
    },
  },
  {
    // Until the folder source confines reads to allowed roots, symlinks are not listed at all: this one is skipped,
    // never followed out of the folder.
    kind: 'symlink-outside-the-folder',
    expected: 'skipped',
    make: (dir, kind) => {
      symlinkSync('/etc/hostname', join(dir, kind));
      return [kind];
    },
  },
  {
    // A reader that opened it would wait for a writer forever.
    kind: 'fifo',
    expected: 'skipped',
    make: (dir, kind) => {
      execFileSync('mkfifo', [join(dir, kind)]);
      return [kind];
    },
  },
];

/**
 * A file nobody may read (chmod 000). Run as root it is still readable, and ingested; otherwise the read fails with
 * EACCES, which is retried as Unavailable and never taken for a deletion.
 */
function unreadable(root: string): HostileFile {
  const path = 'unreadable-chmod-000.txt';
  writeFileSync(join(root, path), `Permission denied, unless you are root. ${words(20)}`);
  chmodSync(join(root, path), 0);
  let readable = true;
  try {
    accessSync(join(root, path), constants.R_OK);
  } catch {
    readable = false;
  }
  return { kind: 'unreadable-chmod-000', path, expected: readable ? 'ok' : FailureType.Unavailable };
}

/** Writes the corpus into `dir` (created if missing; must be empty) and returns one entry per file made. */
export async function buildHostileCorpus(dir: string): Promise<HostileFile[]> {
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`);
  const out: HostileFile[] = [];
  for (const k of KINDS) {
    if (k.make) {
      for (const path of k.make(dir, k.kind)) out.push({ kind: k.kind, path, expected: k.expected });
      continue;
    }
    const files = k.files ? await k.files() : [{ name: `${k.kind}.${k.ext ?? 'txt'}`, body: await k.body!() }];
    for (const { name, body } of files) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), body);
      out.push({ kind: k.kind, path: name, expected: k.expected });
    }
  }
  out.push(unreadable(dir));
  return out;
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node test/support/hostile-corpus.ts <empty-or-new-dir>');
    process.exit(1);
  }
  const files = await buildHostileCorpus(dir);
  console.log(JSON.stringify({ dir, kinds: new Set(files.map((f) => f.kind)).size, files }, null, 1));
}
