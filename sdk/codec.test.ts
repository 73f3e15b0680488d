import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { AesGcmCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA, KeyRingError, parseKeyRing, PayloadDecryptError } from './codec.ts';

const key = (id: string) => ({ id, key: randomBytes(32) });
const text = (p: Payload, k: string) => Buffer.from(p.metadata![k]!).toString();
const clear = (v: unknown) => defaultPayloadConverter.toPayload(v);

test('round trip: the value and its metadata come back; the ciphertext hides both', async () => {
  const codec = new AesGcmCodec([key('k1')]);
  const value = { uri: 's3://bucket/secret-report.pdf', text: 'quarterly numbers' };
  const [enc] = await codec.encode([clear(value)]);
  assert.equal(text(enc!, 'encoding'), ENCRYPTED_ENCODING);
  assert.equal(text(enc!, KEY_ID_METADATA), 'k1');
  assert.deepEqual(Object.keys(enc!.metadata!).sort(), ['encoding', KEY_ID_METADATA].sort());
  const raw = Buffer.from(enc!.data!).toString('latin1');
  assert.ok(!raw.includes('quarterly') && !raw.includes('json/plain'));
  const [dec] = await codec.decode([enc!]);
  assert.equal(text(dec!, 'encoding'), 'json/plain');
  assert.deepEqual(defaultPayloadConverter.fromPayload(dec!), value);
  // A fresh IV per payload: the same value never encrypts to the same bytes.
  const [again] = await codec.encode([clear(value)]);
  assert.notDeepEqual(Buffer.from(again!.data!), Buffer.from(enc!.data!));
});

test('empty and binary payloads round-trip too', async () => {
  const codec = new AesGcmCodec([key('k1')]);
  const payloads: Payload[] = [clear(undefined), { metadata: { encoding: Buffer.from('binary/plain') }, data: randomBytes(300) }];
  const hex = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('hex')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('hex'),
  });
  assert.deepEqual((await codec.decode(await codec.encode(payloads))).map(hex), payloads.map(hex));
});

test('rotation: the first key encrypts, older keys still decrypt', async () => {
  const old = key('2024-01');
  const fresh = key('2025-06');
  const before = await new AesGcmCodec([old]).encode([clear('written before rotation')]);
  const rotated = new AesGcmCodec([fresh, old]);
  assert.equal(rotated.keyId, '2025-06');
  assert.equal(defaultPayloadConverter.fromPayload((await rotated.decode(before))[0]!), 'written before rotation');
  const after = await rotated.encode([clear('written after')]);
  assert.equal(text(after[0]!, KEY_ID_METADATA), '2025-06');
  // Once the old key is retired, only its payloads become unreadable, with an error naming the key id.
  const retired = new AesGcmCodec([fresh]);
  assert.equal(defaultPayloadConverter.fromPayload((await retired.decode(after))[0]!), 'written after');
  await assert.rejects(
    retired.decode(before),
    (err: Error) => err instanceof PayloadDecryptError && /"2024-01"/.test(err.message),
  );
});

test('payloads without the encrypted encoding pass through decode untouched (histories from before encryption)', async () => {
  const codec = new AesGcmCodec([key('k1')]);
  const plain = clear({ a: 1 });
  assert.deepEqual(await codec.decode([plain]), [plain]);
});

test('tampering is detected: a changed byte, a truncated body, a relabelled key id', async () => {
  const k1 = key('k1');
  const k2 = key('k2');
  const codec = new AesGcmCodec([k1, k2]);
  const [enc] = await codec.encode([clear('do not touch')]);
  const flipped = Buffer.from(enc!.data!);
  flipped[20]! ^= 1;
  await assert.rejects(codec.decode([{ ...enc!, data: flipped }]), /failed authentication/);
  await assert.rejects(codec.decode([{ ...enc!, data: Buffer.from(enc!.data!).subarray(0, 10) }]), /truncated/);
  // The key id is authenticated: pointing the payload at another key of the ring fails like tampering.
  const relabelled = { ...enc!, metadata: { ...enc!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
  await assert.rejects(codec.decode([relabelled]), PayloadDecryptError);
});

test('an unknown key id is a clear error naming it', async () => {
  const [enc] = await new AesGcmCodec([key('gone')]).encode([clear(1)]);
  await assert.rejects(new AesGcmCodec([key('k1')]).decode([enc!]), /key id "gone", which is not in the key ring \(k1\)/);
});

test('key rings: id:base64 entries by line, comma or space; bad entries are named without echoing secrets', () => {
  const a = randomBytes(32).toString('base64');
  const b = randomBytes(32).toString('base64');
  assert.deepEqual(
    parseKeyRing(`# newest first\nnew:${a}\nold:${b}\n`, 'f').map((k) => k.id),
    ['new', 'old'],
  );
  assert.deepEqual(
    parseKeyRing(`new:${a}, old:${b}`, 'env').map((k) => k.id),
    ['new', 'old'],
  );
  const bad = (t: string, re: RegExp) =>
    assert.throws(
      () => parseKeyRing(t, 'src'),
      (err: Error) => err instanceof KeyRingError && re.test(err.message) && !err.message.includes(a),
    );
  bad('', /no keys/);
  bad(a, /entry 1 is not id:base64key/);
  bad(`k:${randomBytes(16).toString('base64')}`, /key k has 16 bytes, AES-256 needs 32/);
  bad(`k:${a} k:${b}`, /key id k appears twice/);
  bad('k:not*base64', /key k is not base64/);
});
