import { ConnectorError, FailureType } from '../shared/errors.ts';

/** How the bytes of a text-like document are turned into characters. */
export interface TextEncodingChoice {
  /** A WHATWG encoding label TextDecoder accepts. */
  encoding: string;
  /** Where it came from, for error messages. */
  source: 'bom' | 'content-type' | 'meta' | 'default';
}

/** A byte order mark decides the encoding outright; TextDecoder strips it from the text (and only it). */
export function encodingFromBom(head: Uint8Array): string | undefined {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  return undefined;
}

/** The canonical name of a label, or undefined when TextDecoder does not know it. */
export function supportedEncoding(label: string): string | undefined {
  try {
    return new TextDecoder(label.trim()).encoding;
  } catch {
    return undefined;
  }
}

/**
 * Decodes byte chunks to strings as they arrive. `fatal` decoding rejects bad input instead of inventing U+FFFD, and
 * streaming keeps multi-byte characters that straddle chunk boundaries whole. TextDecoder does not say where input
 * was invalid, so for UTF-8 the offending byte offset is found afterwards from the few bytes it may have held back.
 */
export async function* decodeText(
  chunks: AsyncIterable<Uint8Array>,
  choice: TextEncodingChoice,
  filename: string,
): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder(choice.encoding, { fatal: true });
  const utf8 = decoder.encoding === 'utf-8';
  let offset = 0;
  // Last bytes of the previous chunk: at most 3 can belong to a character the decoder is still waiting to finish.
  let tail: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch (err) {
      throw invalidEncoding(filename, choice, utf8 ? utf8ErrorOffset(tail, chunk, offset, false) : offset, err);
    }
    offset += chunk.length;
    if (utf8) tail = lastBytes(tail, chunk, 3);
    if (text.length > 0) yield text;
  }
  let rest: string;
  try {
    rest = decoder.decode();
  } catch (err) {
    throw invalidEncoding(filename, choice, utf8 ? utf8ErrorOffset(tail, new Uint8Array(0), offset, true) : offset, err);
  }
  if (rest.length > 0) yield rest;
}

const SOURCE_NAMES = { bom: 'byte order mark', 'content-type': 'content type', meta: '<meta> charset', default: '' } as const;

function invalidEncoding(filename: string, choice: TextEncodingChoice, at: number, cause: unknown): ConnectorError {
  const from = choice.source === 'default' ? '' : ` (as its ${SOURCE_NAMES[choice.source]} says)`;
  const utf8 = choice.encoding === 'utf-8';
  // Only UTF-8 errors are located exactly; for other encodings the offset is where the failing chunk starts.
  const where = utf8 ? `at byte offset ${at}` : `at or after byte offset ${at}`;
  return new ConnectorError(
    FailureType.InvalidEncoding,
    `${filename} is not valid ${utf8 ? 'UTF-8' : choice.encoding}${from}: bad byte sequence ${where}`,
    {
      cause,
    },
  );
}

function lastBytes(prev: Uint8Array, chunk: Uint8Array, n: number): Uint8Array {
  if (chunk.length >= n) return chunk.slice(chunk.length - n);
  const joined = new Uint8Array(prev.length + chunk.length);
  joined.set(prev);
  joined.set(chunk, prev.length);
  return joined.slice(Math.max(0, joined.length - n));
}

/** Absolute offset of the first invalid byte sequence, given the bytes kept from the previous chunk. */
function utf8ErrorOffset(tail: Uint8Array, chunk: Uint8Array, chunkOffset: number, final: boolean): number {
  const window = new Uint8Array(tail.length + chunk.length);
  window.set(tail);
  window.set(chunk, tail.length);
  // Leading continuation bytes of the tail finish a character that was already decoded successfully.
  let start = 0;
  while (start < tail.length && ((window[start] as number) & 0xc0) === 0x80) start++;
  const at = findInvalidUtf8(window, start, final);
  return at < 0 ? chunkOffset : chunkOffset - tail.length + at;
}

/**
 * Index of the first byte of the first ill-formed sequence in bytes[from..], or -1. Follows the WHATWG decoder's
 * rules (no overlongs, no surrogates, nothing above U+10FFFF); a sequence cut off at the end counts only when `final`.
 */
export function findInvalidUtf8(bytes: Uint8Array, from: number, final: boolean): number {
  let i = from;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= bytes.length) return final ? i : -1;
      const c = bytes[i + k] as number;
      if (k === 1 ? c < lo || c > hi : (c & 0xc0) !== 0x80) return i;
    }
    i += need + 1;
  }
  return -1;
}
