// The DOCX extractor's thread (see docx.ts): mammoth runs here, on a heap of its own with a fixed size, so a document
// whose XML tree does not fit fails alone instead of taking the worker's heap with it. One document at a time.
import { parentPort } from 'node:worker_threads';
import {
  MAX_DOCX_XML_BYTES,
  MAX_DOCX_XML_ELEMENTS,
  type DocxThreadInput,
  type DocxThreadMessage,
  type DocxThreadRequest,
} from './docx-protocol.ts';
import { checkEntrySize, inflateEntry, ZipFormatError, type ZipEntry } from './zip.ts';

const port = parentPort!;
let parsing = Promise.resolve();
port.on('message', (m: DocxThreadRequest) => {
  parsing = parsing.then(async () => port.postMessage(await run(m.input)));
});

class LimitError extends Error {
  readonly limit: string;
  readonly value: number;
  constructor(limit: string, value: number, message: string) {
    super(message);
    this.limit = limit;
    this.value = value;
  }
}

async function run({ data, entries }: DocxThreadInput): Promise<DocxThreadMessage> {
  try {
    // Every entry is as large as it declares (their sum was checked against maxDecompressedBytes), whether or not
    // mammoth reads it; checked in chunks, so an entry lying about its size costs 64 KiB, not its real size.
    for (const entry of entries) await checkEntrySize(data, entry);
    const byName = new Map(entries.map((e) => [e.name, e]));
    let elements = 0;
    const file = {
      exists: (name: string): boolean => byName.has(name),
      read: async (name: string, encoding?: string): Promise<Uint8Array | string> => {
        const entry = byName.get(name) as ZipEntry | undefined;
        if (!entry) throw new ZipFormatError(`${name} is missing`);
        if (/\.(xml|rels)$/i.test(name) && entry.uncompressedSize > MAX_DOCX_XML_BYTES) {
          throw new LimitError('DOCX XML part bytes', MAX_DOCX_XML_BYTES, `${name} unpacks to ${entry.uncompressedSize} bytes`);
        }
        const bytes = inflateEntry(data, entry);
        if (/\.(xml|rels)$/i.test(name)) {
          elements += countElements(bytes);
          if (elements > MAX_DOCX_XML_ELEMENTS) {
            throw new LimitError(
              'DOCX XML elements',
              MAX_DOCX_XML_ELEMENTS,
              `its XML has more than ${MAX_DOCX_XML_ELEMENTS} elements`,
            );
          }
        }
        if (encoding === 'base64') return bytes.toString('base64');
        return encoding ? new TextDecoder(encoding).decode(bytes) : bytes;
      },
    };
    const core = byName.get('docProps/core.xml');
    const title =
      core && core.uncompressedSize <= MAX_DOCX_XML_BYTES ? coreTitle(inflateEntry(data, core).toString('utf8')) : undefined;
    const { default: mammoth } = await import('mammoth');
    // `file` is mammoth's own seam for an opened package (lib/unzip.js); its typings name only path and buffer.
    const result = await mammoth.extractRawText({ file } as unknown as { buffer: Buffer });
    // mammoth ends every paragraph with a blank line, the last one included.
    const text = result.value.replace(/\s+$/, '');
    return title ? { type: 'done', text, title } : { type: 'done', text };
  } catch (err) {
    if (err instanceof LimitError)
      return { type: 'error', kind: 'too-large', limit: err.limit, value: err.value, message: err.message };
    return { type: 'error', kind: 'corrupt', message: err instanceof Error ? err.message : String(err) };
  }
}

/** Start tags and empty-element tags: `<` not followed by `/` (an end tag), `?` or `!` (declarations, comments). */
function countElements(xml: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < xml.length - 1; i++) {
    if (xml[i] !== 0x3c) continue;
    const next = xml[i + 1];
    if (next !== 0x2f && next !== 0x3f && next !== 0x21) n++;
  }
  return n;
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
