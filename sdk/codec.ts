import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import protobuf from 'protobufjs';

/** The `encoding` metadata of a payload this codec encrypted. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata entry naming the key that encrypted a payload. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** One key of a key ring: 32 bytes for AES-256 and the id written next to every payload it encrypts. */
export interface CodecKey {
  id: string;
  key: Buffer;
}

/** A key ring that cannot be used: empty, malformed, a key of the wrong length, or an id twice. */
export class KeyRingError extends Error {
  override name = 'KeyRingError';
}

/** A payload this codec cannot decrypt: its key is not in the ring, or its bytes were changed. */
export class PayloadDecryptError extends Error {
  override name = 'PayloadDecryptError';
}

/**
 * Reads `id:base64key` entries separated by newlines, commas or spaces; `#` starts a comment line. The first entry is
 * the one that encrypts.
 */
export function parseKeyRing(text: string, source: string): CodecKey[] {
  const entries = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join(' ')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (entries.length === 0) throw new KeyRingError(`${source}: no keys (expected id:base64key entries)`);
  const keys: CodecKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    const b64 = colon < 0 ? '' : entry.slice(colon + 1);
    // Never echo the entry: it is a secret.
    if (!KEY_ID.test(id))
      throw new KeyRingError(`${source}: entry ${i + 1} is not id:base64key with an id of letters, digits, . _ -`);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new KeyRingError(`${source}: key ${id} is not base64`);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32) throw new KeyRingError(`${source}: key ${id} has ${key.length} bytes, AES-256 needs 32`);
    if (keys.some((k) => k.id === id)) throw new KeyRingError(`${source}: key id ${id} appears twice`);
    keys.push({ id, key });
  }
  return keys;
}

// The layout of temporal.api.common.v1.Payload, so the encrypted bytes hold the same message Temporal's SDKs' own
// encryption samples encrypt. protobufjs is already a dependency; @temporalio/proto is only a transitive one.
const PayloadMessage = new protobuf.Type('Payload')
  .add(new protobuf.MapField('metadata', 1, 'string', 'bytes'))
  .add(new protobuf.Field('data', 2, 'bytes'));

/**
 * AES-256-GCM over the whole serialised payload (metadata included, so the encoding of the value is hidden too), a
 * random 12-byte IV per payload, data = IV | ciphertext | tag. The key id is the additional authenticated data, so a
 * payload relabelled with another key id fails like a tampered one. Payloads without `binary/encrypted` pass through
 * decode untouched: histories written before encryption was switched on still read.
 */
export class AesGcmCodec implements PayloadCodec {
  private readonly encryptWith: CodecKey;
  private readonly byId: Map<string, Buffer>;

  constructor(keys: CodecKey[]) {
    if (keys.length === 0) throw new KeyRingError('the key ring is empty');
    this.encryptWith = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The id of the key new payloads are encrypted with. */
  get keyId(): string {
    return this.encryptWith.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.encryptWith;
    const plain = PayloadMessage.encode(
      PayloadMessage.fromObject({ metadata: payload.metadata ?? {}, data: payload.data ?? new Uint8Array() }),
    ).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(id));
    const body = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(id) },
      data: body,
    };
  }

  private decrypt(payload: Payload): Payload {
    const encoding = payload.metadata?.encoding;
    if (!encoding || Buffer.from(encoding).toString() !== ENCRYPTED_ENCODING) return payload;
    const rawId = payload.metadata?.[KEY_ID_METADATA];
    if (!rawId) throw new PayloadDecryptError(`an encrypted payload carries no ${KEY_ID_METADATA}`);
    const id = Buffer.from(rawId).toString();
    const key = this.byId.get(id);
    if (!key) {
      throw new PayloadDecryptError(
        `payload encrypted with key id "${id}", which is not in the key ring (${[...this.byId.keys()].join(', ')})`,
      );
    }
    const body = Buffer.from(payload.data ?? new Uint8Array());
    if (body.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptError(`encrypted payload (key ${id}) is truncated`);
    const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptError(`encrypted payload (key ${id}) failed authentication: it was altered or corrupted`);
    }
    const msg = PayloadMessage.toObject(PayloadMessage.decode(plain), { defaults: true }) as {
      metadata: Record<string, Uint8Array>;
      data: Uint8Array;
    };
    return { metadata: msg.metadata, data: msg.data };
  }
}
