import { ConnectorError, FailureType } from '../shared/errors.ts';
import { errorMessage, pieces, tooLarge } from './bytes.ts';
import type { ParseLimits } from './parser.ts';
import { inflateEntry, readCentralDirectory, ZipFormatError, type ZipEntry } from './zip.ts';

/** More entries than any real Word document has; a cheap guard against archives built to exhaust the directory walk. */
export const MAX_ZIP_ENTRIES = 10_000;

const MAIN_PART = 'word/document.xml';

/** What a ZIP archive turned out to be. */
export type ZipKind = { kind: 'docx'; entries: ZipEntry[] } | { kind: 'other'; entries: ZipEntry[]; looksLike: string };

/**
 * Reads the archive's directory and refuses it, before anything is inflated, when its entry count or the sum of its
 * declared uncompressed sizes is over the limits. Throws ZipFormatError when the archive itself is unreadable.
 */
export function inspectZip(buf: Uint8Array, filename: string, limits: ParseLimits): ZipKind {
  const { entries, declaredEntries } = readCentralDirectory(buf, MAX_ZIP_ENTRIES);
  if (declaredEntries > MAX_ZIP_ENTRIES) {
    throw tooLarge(filename, 'zip entries', MAX_ZIP_ENTRIES, `the archive has ${declaredEntries} entries`);
  }
  const unpacked = entries.reduce((sum, e) => sum + e.uncompressedSize, 0);
  if (unpacked > limits.maxDecompressedBytes) {
    throw tooLarge(filename, 'maxDecompressedBytes', limits.maxDecompressedBytes, `its entries unpack to ${unpacked} bytes`);
  }
  const names = new Set(entries.map((e) => e.name));
  if (names.has(MAIN_PART)) return { kind: 'docx', entries };
  return { kind: 'other', entries, looksLike: describeZip(names) };
}

function describeZip(names: Set<string>): string {
  if (names.has('xl/workbook.xml')) return 'an XLSX spreadsheet';
  if (names.has('ppt/presentation.xml')) return 'a PPTX presentation';
  if (names.has('META-INF/container.xml')) return 'an EPUB book';
  if (names.has('mimetype') && names.has('content.xml')) return 'an OpenDocument file';
  if (names.has('META-INF/MANIFEST.MF')) return 'a Java archive';
  return `a ZIP archive without ${MAIN_PART}`;
}

export function corruptDocx(filename: string, reason: string, cause?: unknown): ConnectorError {
  return new ConnectorError(FailureType.CorruptDocument, `${filename} is not a valid DOCX (${reason})`, { cause });
}

/**
 * Extracts the text with mammoth. Every entry is first inflated once with its declared size as a hard cap, so an
 * entry lying about its size fails here instead of exhausting memory inside jszip; the title comes from
 * docProps/core.xml, which mammoth does not expose.
 */
export async function* parseDocx(
  buf: Uint8Array,
  entries: ZipEntry[],
  filename: string,
): AsyncGenerator<string, { title?: string }, undefined> {
  let title: string | undefined;
  for (const entry of entries) {
    let data: Buffer;
    try {
      data = inflateEntry(buf, entry);
    } catch (err) {
      if (err instanceof ZipFormatError) throw corruptDocx(filename, err.message, err);
      throw err;
    }
    if (entry.name === 'docProps/core.xml') title = coreTitle(data.toString('utf8'));
  }

  const { default: mammoth } = await import('mammoth');
  let text: string;
  try {
    const result = await mammoth.extractRawText({ buffer: Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) });
    text = result.value;
  } catch (err) {
    throw corruptDocx(filename, errorMessage(err), err);
  }
  // mammoth ends every paragraph with a blank line, the last one included.
  text = text.replace(/\s+$/, '');
  yield* pieces(text);
  return title ? { title } : {};
}

function coreTitle(xml: string): string | undefined {
  const raw = /<dc:title(?:\s[^>]*)?>([^<]*)<\/dc:title>/.exec(xml)?.[1];
  const title = raw
    ?.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
      const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
      const lower = e.toLowerCase();
      if (lower in named) return named[lower] as string;
      const code = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : '';
    })
    .trim();
  return title || undefined;
}
