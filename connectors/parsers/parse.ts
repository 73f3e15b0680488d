import { ConnectorError, FailureType } from '../shared/errors.ts';
import { ByteSource, tooLarge } from './bytes.ts';
import { encodingFromBom, supportedEncoding, type TextEncodingChoice } from './decode.ts';
import {
  binaryReason,
  declaredKind,
  EMPTY_ZIP_MAGIC,
  extensionOf,
  htmlMetaCharset,
  knownBinaryFormat,
  looksLikeHtml,
  parseContentType,
  PDF_MAGIC,
  SNIFF_BYTES,
  startsWith,
  ZIP_MAGIC,
  type DeclaredKind,
} from './detect.ts';
import { corruptDocx, inspectZip, parseDocx } from './docx.ts';
import { parseHtml } from './html.ts';
import { parseMarkdown } from './markdown.ts';
import {
  DEFAULT_PARSE_LIMITS,
  ParsedFormat,
  type ParsedMeta,
  type ParsedStream,
  type ParseInput,
  type ParseLimits,
} from './parser.ts';
import { parsePdf } from './pdf.ts';
import { parseText } from './text.ts';
import { ZipFormatError } from './zip.ts';

type Extracted = AsyncGenerator<string, { title?: string; pages?: number }, undefined>;

/** Leading whitespace held back (to tell a blank document from one that starts with blank lines) before it is passed on. */
const MAX_HELD_WHITESPACE = 1024 * 1024;

/**
 * Picks the format from the leading bytes, then the name and content type, and returns the document's text as a
 * stream. Failures found before any text exists (unsupported or empty file, over maxBytes, an unreadable DOCX
 * package, a zip bomb) reject this promise; failures found while extracting (invalid encoding, a corrupt PDF, over
 * maxChars, nothing but whitespace) are thrown by `text`'s iterator, and `meta` rejects with the same error. All are
 * ConnectorErrors; only a failing source stream is retryable (Unavailable). Reading `text` to its end, or leaving the
 * loop early, releases the source stream; a caller that never reads `text` must destroy `input.body` itself.
 */
export async function parseDocument(input: ParseInput, limits: ParseLimits = DEFAULT_PARSE_LIMITS): Promise<ParsedStream> {
  const { filename } = input;
  if (input.size === 0) throw emptyFile(filename);
  if (input.size !== undefined && input.size > limits.maxBytes) {
    input.body.destroy();
    throw tooLarge(filename, 'maxBytes', limits.maxBytes, `it is ${input.size} bytes`);
  }
  const source = new ByteSource(input.body, filename, limits.maxBytes, input.size);
  try {
    const { format, extract } = await detect(source, input, limits);
    return stream(extract, format, filename, limits, source);
  } catch (err) {
    source.close();
    throw err;
  }
}

async function detect(
  source: ByteSource,
  input: ParseInput,
  limits: ParseLimits,
): Promise<{ format: ParsedFormat; extract: Extracted }> {
  const { filename } = input;
  const head = await source.peek(SNIFF_BYTES);
  if (head.length === 0) throw emptyFile(filename);
  const declared = declaredKind(filename, input.contentType);

  if (startsWith(head, PDF_MAGIC)) return { format: ParsedFormat.pdf, extract: parsePdf(source, limits) };
  if (startsWith(head, ZIP_MAGIC) || startsWith(head, EMPTY_ZIP_MAGIC)) return detectZip(source, declared, limits);
  const binary = knownBinaryFormat(head);
  if (binary) throw unsupported(filename, `it looks like ${binary}`);
  if (declared === 'pdf') throw corrupt(filename, 'PDF', 'no %PDF- header');
  if (declared === 'docx') throw corruptDocx(filename, 'not a ZIP package');
  if (declared === 'unsupported') throw unsupported(filename, `.${extensionOf(filename)} files are not supported`);

  const bom = encodingFromBom(head);
  if (!bom) {
    const reason = binaryReason(head);
    if (reason) throw unsupported(filename, `it looks binary (${reason}), not like text`);
  }
  const format =
    declared === 'markdown' || declared === 'html' || declared === 'text'
      ? declared
      : looksLikeHtml(head)
        ? ParsedFormat.html
        : ParsedFormat.text;
  const encoding = chooseEncoding(head, bom, input.contentType, format === ParsedFormat.html);
  const extract =
    format === ParsedFormat.markdown
      ? parseMarkdown(source, encoding)
      : format === ParsedFormat.html
        ? parseHtml(source, encoding)
        : parseText(source, encoding);
  return { format, extract };
}

/** A ZIP's directory is at its end, so the whole archive is read (bounded by maxBytes) to tell DOCX from the rest. */
async function detectZip(
  source: ByteSource,
  declared: DeclaredKind,
  limits: ParseLimits,
): Promise<{ format: ParsedFormat; extract: Extracted }> {
  const { filename } = source;
  const buf = await source.readAll();
  let zip: ReturnType<typeof inspectZip>;
  try {
    zip = inspectZip(buf, filename, limits);
  } catch (err) {
    if (!(err instanceof ZipFormatError)) throw err;
    if (declared === 'docx') throw corruptDocx(filename, err.message, err);
    throw unsupported(filename, `it is a ZIP archive that could not be read (${err.message})`);
  }
  if (zip.kind === 'docx') return { format: ParsedFormat.docx, extract: parseDocx(buf, zip.entries, filename) };
  if (declared === 'docx') throw corruptDocx(filename, `no word/document.xml in the package; it looks like ${zip.looksLike}`);
  throw unsupported(filename, `it looks like ${zip.looksLike}`);
}

function chooseEncoding(
  head: Uint8Array,
  bom: string | undefined,
  contentType: string | undefined,
  html: boolean,
): TextEncodingChoice {
  if (bom) return { encoding: bom, source: 'bom' };
  const { charset } = parseContentType(contentType);
  const fromHeader = charset && supportedEncoding(charset);
  if (fromHeader) return { encoding: fromHeader, source: 'content-type' };
  const meta = html ? htmlMetaCharset(head) : undefined;
  const fromMeta = meta && supportedEncoding(meta);
  if (fromMeta) return { encoding: fromMeta, source: 'meta' };
  return { encoding: 'utf-8', source: 'default' };
}

/**
 * Wraps a format's extractor with what every format shares: the maxChars limit, the blank-document check, `meta`
 * settling when the text ends, and releasing the source when the consumer stops early.
 */
function stream(
  extract: Extracted,
  format: ParsedFormat,
  filename: string,
  limits: ParseLimits,
  source: ByteSource,
): ParsedStream {
  const meta = Promise.withResolvers<ParsedMeta>();
  // Callers often await meta only after the text; a rejection in between must not count as unhandled.
  meta.promise.catch(() => {});
  let iterated = false;

  async function* text(): AsyncGenerator<string, void, undefined> {
    let chars = 0;
    let seenText = false;
    let held: string[] = [];
    let heldChars = 0;
    let settled = false;
    try {
      for (;;) {
        const next = await extract.next();
        if (next.done) {
          if (!seenText) throw blank(filename, format);
          yield* held;
          meta.resolve({ format, ...next.value });
          settled = true;
          return;
        }
        const piece = next.value;
        chars += piece.length;
        if (chars > limits.maxChars) {
          throw tooLarge(filename, 'maxChars', limits.maxChars, `its text is longer than ${limits.maxChars} characters`);
        }
        if (seenText) {
          yield piece;
          continue;
        }
        held.push(piece);
        heldChars += piece.length;
        seenText = /\S/.test(piece);
        if (seenText || heldChars > MAX_HELD_WHITESPACE) {
          const out = held;
          held = [];
          heldChars = 0;
          yield* out;
        }
      }
    } catch (err) {
      meta.reject(err);
      settled = true;
      throw err;
    } finally {
      if (!settled) meta.reject(new Error(`parsing ${filename} stopped before the end of its text`));
      await extract.return({});
      source.close();
    }
  }

  return {
    text: {
      [Symbol.asyncIterator]() {
        if (iterated) throw new Error(`the text of ${filename} can be read only once`);
        iterated = true;
        return text();
      },
    },
    meta: meta.promise,
  };
}

function emptyFile(filename: string): ConnectorError {
  return new ConnectorError(FailureType.EmptyDocument, `${filename} is empty (0 bytes)`);
}

function blank(filename: string, format: ParsedFormat): ConnectorError {
  const why = format === ParsedFormat.pdf ? 'no extractable text: scanned pages need OCR' : 'only whitespace';
  return new ConnectorError(FailureType.EmptyDocument, `${filename} contains no text (${why})`);
}

function unsupported(filename: string, why: string): ConnectorError {
  return new ConnectorError(FailureType.UnsupportedFormat, `${filename} is not a supported document: ${why}`);
}

function corrupt(filename: string, format: string, reason: string): ConnectorError {
  return new ConnectorError(FailureType.CorruptDocument, `${filename} is not a valid ${format} (${reason})`);
}
