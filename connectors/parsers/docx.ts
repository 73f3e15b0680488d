import { ConnectorError, FailureType } from '../shared/errors.ts';
import { acquireThread, releaseThread, type ThreadKind } from './bounded-threads.ts';
import { pieces, tooLarge } from './bytes.ts';
import type { DocxThreadMessage, DocxThreadRequest } from './docx-protocol.ts';
import type { ParseLimits } from './parser.ts';
import { readCentralDirectory, type ZipEntry } from './zip.ts';

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
 * The heap of the thread that runs mammoth, which builds the whole document's XML tree (about 1 KB per element,
 * measured): a document that needs more fails as DocumentTooLarge, and the worker's heap is untouched. The element
 * cap in docx-thread.ts keeps ordinary documents well inside it.
 */
export const DOCX_THREAD_HEAP = { maxOldGenerationSizeMb: 160, maxYoungGenerationSizeMb: 8 } as const;
/**
 * What the thread may hold in buffers (ArrayBuffers, outside its heap) beyond the package itself: the XML parts
 * mammoth asks for, inflated, each at most MAX_DOCX_XML_BYTES.
 */
export const DOCX_THREAD_BUFFER_BYTES = 64 * 1024 * 1024;

const DOCX_THREAD: ThreadKind = { name: 'DOCX', url: new URL('./docx-thread.ts', import.meta.url), heap: DOCX_THREAD_HEAP };

/**
 * Extracts the text with mammoth, in a thread of its own (see bounded-threads.ts; it shares MAX_PARSE_THREADS with
 * the PDF threads). The package is handed over, not copied; in the thread every entry is checked to inflate to the
 * size it declares, and mammoth reads the parts through zip.ts (each inflation capped at its declared size), never
 * through jszip, so it reads exactly the entries that were checked. XML parts over MAX_DOCX_XML_BYTES, or more than
 * MAX_DOCX_XML_ELEMENTS elements in all, fail as DocumentTooLarge before mammoth parses them; the title comes from
 * docProps/core.xml, which mammoth does not expose.
 */
export async function* parseDocx(
  buf: Uint8Array,
  entries: ZipEntry[],
  filename: string,
): AsyncGenerator<string, { title?: string }, undefined> {
  const slot = await acquireThread<DocxThreadRequest, DocxThreadMessage>(DOCX_THREAD);
  let reusable = false;
  let result: DocxThreadMessage;
  try {
    const size = buf.byteLength;
    slot.limitExternalMemory(size + DOCX_THREAD_BUFFER_BYTES, () => {
      const mb = DOCX_THREAD_BUFFER_BYTES / 2 ** 20;
      return tooLarge(filename, 'the DOCX buffers (MB)', mb, `parsing it holds more than ${mb} MB of unpacked parts`);
    });
    const data = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? buf : buf.slice();
    slot.send({ type: 'parse', input: { data, entries } }, [data.buffer as ArrayBuffer]);
    result = await slot.inbox.next(filename);
    reusable = true;
  } finally {
    await releaseThread(slot, reusable);
  }
  if (result.type === 'error') {
    if (result.kind === 'too-large') throw tooLarge(filename, result.limit, result.value, result.message);
    throw corruptDocx(filename, result.message);
  }
  yield* pieces(result.text);
  return result.title ? { title: result.title } : {};
}
