import { ConnectorError, FailureType } from '../shared/errors.ts';

// Vector helpers shared by the hosted providers: wire decoding (JSON floats, base64 float32, packed bits) and
// Matryoshka truncation.

/** Which output sizes a model may be cut to: a list, or 'any' size up to its native one (OpenAI's v3 models). */
export type MatryoshkaDims = readonly number[] | 'any';

/**
 * Refuses a target size the model was not trained for: cutting a non-Matryoshka vector silently wrecks retrieval.
 * Returns the output dims.
 */
export function checkMatryoshka(model: string, nativeDims: number, target: number | undefined, allowed?: MatryoshkaDims): number {
  if (target === undefined || target === nativeDims) return nativeDims;
  const ok = allowed === 'any' ? target > 0 && target < nativeDims : (allowed ?? []).includes(target);
  if (!ok) {
    const list = allowed === undefined || (Array.isArray(allowed) && allowed.length === 0) ? 'none' : String(allowed);
    throw new ConnectorError(
      FailureType.InvalidInput,
      `${model} cannot be truncated to ${target} dims (native ${nativeDims}; Matryoshka sizes allowed: ${list})`,
    );
  }
  return target;
}

/** Keeps the first `dims` components and rescales to unit length, as Matryoshka models are meant to be used. */
export function truncateAndNormalise(v: Float32Array, dims: number): Float32Array {
  const out = v.slice(0, dims);
  return normalise(out);
}

export function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/** A JSON number array or a base64 string of little-endian float32 (OpenAI's `encoding_format: "base64"`). */
export function decodeFloatEmbedding(value: unknown): Float32Array {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'base64');
    if (bytes.byteLength % 4 !== 0) throw badShape('base64 embedding length is not a multiple of 4 bytes');
    const out = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
    return out;
  }
  if (Array.isArray(value) && value.every((x) => typeof x === 'number')) return Float32Array.from(value as number[]);
  throw badShape('embedding is neither a number array nor a base64 string');
}

/**
 * Packed bit embeddings (8 dims per byte, most significant bit first) unpacked to ±1, so a float vector index can
 * store them and a dot product ranks like Hamming distance. `signed` bytes come offset by -128 (the
 * sentence-transformers / Cohere `binary` convention); `ubinary` bytes are plain 0..255.
 */
export function unpackBits(bytes: readonly number[], signed: boolean): Float32Array {
  const out = new Float32Array(bytes.length * 8);
  for (let i = 0; i < bytes.length; i++) {
    const b = signed ? bytes[i]! + 128 : bytes[i]!;
    if (!Number.isInteger(b) || b < 0 || b > 255) throw badShape(`packed byte ${bytes[i]} out of range`);
    for (let k = 0; k < 8; k++) out[i * 8 + k] = (b >> (7 - k)) & 1 ? 1 : -1;
  }
  return out;
}

export function badShape(message: string): ConnectorError {
  // A malformed answer is the server's fault and may be transient (a proxy error page): retryable.
  return new ConnectorError(FailureType.Unavailable, `unexpected embedding response: ${message}`);
}
