import { createInflateRaw, inflateRawSync } from 'node:zlib';

/**
 * A small reader of ZIP packages, and the only one that inflates DOCX entries: mammoth is handed a file object backed
 * by it (docx-thread.ts) instead of reading the package through jszip, which inflates entries whole into memory and
 * checks their sizes only afterwards. A zip bomb is refused from the sizes the archive declares before anything is
 * inflated, and every inflation stops as soon as it passes the size its entry declared, so declared sizes (which an
 * attacker controls) bound what is produced. The format is the PKWARE APPNOTE; ZIP64 is supported because an
 * attacker can use it to declare sizes the 32-bit fields cannot hold.
 */
export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

/** A structural problem with the archive; the caller words it for the operator. */
export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const MAX32 = 0xffffffff;
const MAX16 = 0xffff;

/**
 * Reads the central directory the way an inflating reader does: record after record for as long as the signature
 * continues, not the number the end record declares (jszip, which mammoth uses, reads them this way). A directory
 * whose records and end record disagree is refused: that is how an entry is hidden from a size check. Refuses, before
 * reading entries, an archive declaring more than maxEntries, and stops reading past maxEntries records.
 */
export function readCentralDirectory(buf: Uint8Array, maxEntries: number): { entries: ZipEntry[]; declaredEntries: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const eocd = findEocd(view);
  let count = view.getUint16(eocd + 10, true);
  let cdSize: number = view.getUint32(eocd + 12, true);
  let cdOffset: number = view.getUint32(eocd + 16, true);
  if (count === MAX16 || cdSize === MAX32 || cdOffset === MAX32) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR_SIG) throw new ZipFormatError('ZIP64 locator missing');
    const z64 = safeNumber(view.getBigUint64(locator + 8, true));
    if (z64 + 56 > buf.length || view.getUint32(z64, true) !== ZIP64_EOCD_SIG)
      throw new ZipFormatError('ZIP64 end record missing');
    count = safeNumber(view.getBigUint64(z64 + 32, true));
    cdSize = safeNumber(view.getBigUint64(z64 + 40, true));
    cdOffset = safeNumber(view.getBigUint64(z64 + 48, true));
  }
  if (count > maxEntries) return { entries: [], declaredEntries: count };
  if (cdOffset + cdSize > buf.length) throw new ZipFormatError('central directory lies outside the file (truncated?)');

  const entries: ZipEntry[] = [];
  let at = cdOffset;
  for (let i = 0; at + 4 <= buf.length && view.getUint32(at, true) === CENTRAL_SIG; i++) {
    if (entries.length === maxEntries) return { entries: [], declaredEntries: maxEntries + 1 };
    if (at + 46 > buf.length) throw new ZipFormatError(`central directory entry ${i} is damaged`);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    if (at + 46 + nameLength + extraLength > buf.length) throw new ZipFormatError(`central directory entry ${i} is truncated`);
    const entry: ZipEntry = {
      name: Buffer.from(buf.subarray(at + 46, at + 46 + nameLength)).toString('utf8'),
      flags: view.getUint16(at + 8, true),
      method: view.getUint16(at + 10, true),
      compressedSize: view.getUint32(at + 20, true),
      uncompressedSize: view.getUint32(at + 24, true),
      localHeaderOffset: view.getUint32(at + 42, true),
    };
    applyZip64Extra(view, at + 46 + nameLength, extraLength, entry);
    entries.push(entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  if (entries.length !== count) {
    throw new ZipFormatError(`the central directory holds ${entries.length} entries, but its end record says ${count}`);
  }
  const names = new Set<string>();
  for (const { name } of entries) {
    // Readers differ on which of two same-named entries they use; the one checked must be the one read.
    if (names.has(name)) throw new ZipFormatError(`${name} appears twice in the central directory`);
    names.add(name);
  }
  return { entries, declaredEntries: count };
}

function findEocd(view: DataView): number {
  // The record is 22 bytes plus a comment of up to 64 KiB, so it starts somewhere in the last 65,557 bytes.
  const last = view.byteLength - 22;
  for (let at = last; at >= 0 && at >= last - MAX16; at--) {
    if (view.getUint32(at, true) === EOCD_SIG) return at;
  }
  throw new ZipFormatError('end of central directory not found (truncated or not a zip)');
}

/** Fields set to 0xFFFFFFFF in the directory entry carry their real value in the ZIP64 extra field, in this order. */
function applyZip64Extra(view: DataView, start: number, length: number, entry: ZipEntry): void {
  if (entry.uncompressedSize !== MAX32 && entry.compressedSize !== MAX32 && entry.localHeaderOffset !== MAX32) return;
  let at = start;
  while (at + 4 <= start + length) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (id === 0x0001) {
      let field = at + 4;
      const next = (): number => {
        if (field + 8 > at + 4 + size) throw new ZipFormatError(`ZIP64 extra field of ${entry.name} is too short`);
        const value = safeNumber(view.getBigUint64(field, true));
        field += 8;
        return value;
      };
      if (entry.uncompressedSize === MAX32) entry.uncompressedSize = next();
      if (entry.compressedSize === MAX32) entry.compressedSize = next();
      if (entry.localHeaderOffset === MAX32) entry.localHeaderOffset = next();
      return;
    }
    at += 4 + size;
  }
  throw new ZipFormatError(`ZIP64 extra field of ${entry.name} is missing`);
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('ZIP64 size or offset out of range');
  return Number(value);
}

/**
 * Inflates one entry in chunks without keeping them, failing as soon as it passes its declared size: checks that an
 * entry nobody reads is as large as it says, holding 64 KiB at a time instead of the entry.
 */
export async function checkEntrySize(buf: Uint8Array, entry: ZipEntry): Promise<void> {
  const data = entryData(buf, entry);
  if (entry.method === 0) return sizeMatches(entry, data.length);
  const inflater = createInflateRaw({ chunkSize: 64 * 1024 });
  let produced = 0;
  try {
    const done = new Promise<void>((resolve, reject) => {
      inflater.on('data', (chunk: Buffer) => {
        produced += chunk.length;
        if (produced > entry.uncompressedSize) {
          inflater.destroy();
          reject(new ZipFormatError(`${entry.name} inflates beyond its declared size`));
        }
      });
      inflater.on('end', resolve);
      inflater.on('error', (err) => reject(new ZipFormatError(`${entry.name} does not inflate`, { cause: err })));
    });
    inflater.end(data);
    await done;
  } finally {
    inflater.destroy();
  }
  sizeMatches(entry, produced);
}

function sizeMatches(entry: ZipEntry, length: number): void {
  if (length !== entry.uncompressedSize) {
    throw new ZipFormatError(`${entry.name} inflates to ${length} bytes, not the ${entry.uncompressedSize} it declares`);
  }
}

function entryData(buf: Uint8Array, entry: ZipEntry): Uint8Array {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const at = entry.localHeaderOffset;
  if (at + 30 > buf.length || view.getUint32(at, true) !== LOCAL_SIG)
    throw new ZipFormatError(`local header of ${entry.name} is damaged`);
  const dataStart = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (dataStart + entry.compressedSize > buf.length) throw new ZipFormatError(`${entry.name} is truncated`);
  if ((entry.flags & 0x1) !== 0) throw new ZipFormatError(`${entry.name} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8)
    throw new ZipFormatError(`${entry.name} uses unsupported compression method ${entry.method}`);
  return buf.subarray(dataStart, dataStart + entry.compressedSize);
}

/**
 * Inflates one entry, refusing to produce more than it declared: declared sizes are what the bomb check summed, and
 * an entry that lies about its size would otherwise inflate without bound inside mammoth.
 */
export function inflateEntry(buf: Uint8Array, entry: ZipEntry): Buffer {
  const data = entryData(buf, entry);
  let out: Buffer;
  if (entry.method === 0) out = Buffer.from(data);
  else {
    try {
      // zlib stops (and throws) once its output passes maxOutputLength: the bytes are capped while inflating. One
      // byte of headroom tells "exactly as declared" from "more than declared".
      out = inflateRawSync(data, { maxOutputLength: entry.uncompressedSize + 1 });
    } catch (err) {
      const tooBig = err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      throw new ZipFormatError(tooBig ? `${entry.name} inflates beyond its declared size` : `${entry.name} does not inflate`, {
        cause: err,
      });
    }
  }
  sizeMatches(entry, out.length);
  return out;
}
