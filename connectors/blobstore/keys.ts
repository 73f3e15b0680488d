import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { BlobBody } from './blobstore.ts';

// Every blob store accepts exactly the same keys, so an artifact layout that works on a local folder also works on S3
// (and the reverse). Keys map onto POSIX paths on both the local store and versitygw's POSIX backend, hence the rules.

/** Suffix of the local store's in-flight temp files; reserved so a listing can never mistake one for a key. */
export const TEMP_SUFFIX = '.ragline-tmp';

const MAX_KEY_BYTES = 1024;

function checkSegments(what: string, value: string, segments: string[]): void {
  for (const seg of segments) {
    if (seg === '' || seg === '.' || seg === '..') {
      throw new ConnectorError(
        FailureType.InvalidInput,
        `invalid blob ${what} ${JSON.stringify(value)}: empty, "." or ".." segment`,
      );
    }
    if (seg.endsWith(TEMP_SUFFIX)) {
      throw new ConnectorError(
        FailureType.InvalidInput,
        `invalid blob ${what} ${JSON.stringify(value)}: "${TEMP_SUFFIX}" is reserved`,
      );
    }
  }
}

function checkCommon(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new ConnectorError(FailureType.InvalidInput, `blob ${what} must be a string`);
  if (value.startsWith('/')) {
    throw new ConnectorError(
      FailureType.InvalidInput,
      `invalid blob ${what} ${JSON.stringify(value)}: absolute paths are not keys`,
    );
  }
  // Backslashes are separators on Windows and NUL ends a C path: both would let a key escape its folder.
  if (value.includes('\\') || value.includes('\0')) {
    throw new ConnectorError(
      FailureType.InvalidInput,
      `invalid blob ${what} ${JSON.stringify(value)}: "\\" and NUL are not allowed`,
    );
  }
  if (Buffer.byteLength(value) > MAX_KEY_BYTES) {
    throw new ConnectorError(FailureType.InvalidInput, `invalid blob ${what}: longer than ${MAX_KEY_BYTES} bytes`);
  }
}

/** Throws ConnectorError(InvalidInput) unless `key` is a relative `/`-separated path without empty, `.` or `..` segments. */
export function validateKey(key: unknown): string {
  checkCommon('key', key);
  if (key === '') throw new ConnectorError(FailureType.InvalidInput, 'blob key must not be empty');
  checkSegments('key', key, key.split('/'));
  return key;
}

/** A prefix is a key's leading characters: empty, a partial segment (`docs/re`) or a folder (`docs/`). */
export function validatePrefix(prefix: unknown): string {
  checkCommon('prefix', prefix);
  if (prefix === '') return prefix;
  const segments = prefix.split('/');
  // The last segment may be partial or empty (trailing `/`); only whole `.`/`..` segments are dangerous there.
  const last = segments.pop()!;
  checkSegments('prefix', prefix, segments);
  if (last === '.' || last === '..') {
    throw new ConnectorError(FailureType.InvalidInput, `invalid blob prefix ${JSON.stringify(prefix)}: "." or ".." segment`);
  }
  return prefix;
}

/** What `bodyChunks` saw: bytes passed, and the body's own failure (kept apart from the store's failures). */
export interface BodyTally {
  bytes: number;
  bodyError?: unknown;
}

function toBuffer(chunk: Uint8Array | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** The body as a stream of byte chunks, tallied as they pass; never joins the chunks. */
export async function* bodyChunks(body: BlobBody, tally: BodyTally): AsyncGenerator<Buffer> {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const buf = toBuffer(body);
    tally.bytes += buf.length;
    yield buf;
    return;
  }
  const it = body[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      let step: IteratorResult<Uint8Array | string>;
      try {
        step = await it.next();
      } catch (err) {
        finished = true;
        tally.bodyError = err;
        throw err;
      }
      if (step.done) {
        finished = true;
        return;
      }
      const buf = toBuffer(step.value);
      tally.bytes += buf.length;
      yield buf;
    }
  } finally {
    // The store gave up midway (a failed write): release the source, as `for await` would.
    if (!finished) await it.return?.().catch(() => undefined);
  }
}

/** Byte order of UTF-8 keys, the order S3 lists them in (JS string order differs above the BMP). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
