import type { ByteSource } from './bytes.ts';
import { decodeText, type TextEncodingChoice } from './decode.ts';

/** Plain text: decoded as it streams in and passed on unchanged, piece by piece. */
export async function* parseText(
  source: ByteSource,
  encoding: TextEncodingChoice,
): AsyncGenerator<string, { title?: string }, undefined> {
  yield* decodeText(source.chunks(), encoding, source.filename);
  return {};
}
