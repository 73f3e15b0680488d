import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AesGcmCodec } from './codec.ts';
import {
  connectionOptions,
  dataConverterOf,
  nativeConnectionOptions,
  resolveTemporalTarget,
  TemporalConfigError,
} from './temporal-connection.ts';

const dir = mkdtempSync(join(tmpdir(), 'ragline-temporal-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const defaults = { address: '127.0.0.1:7233', namespace: 'ragline' };
const keyB64 = randomBytes(32).toString('base64');

test('without a block: the local stack, or TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE; clear and without a key', () => {
  assert.deepEqual(resolveTemporalTarget(undefined, { env: {}, baseDir: dir, defaults }), defaults);
  const t = resolveTemporalTarget(
    { address: 'spec:7233', namespace: 'spec-ns' },
    { env: { TEMPORAL_ADDRESS: 'env:7233', TEMPORAL_NAMESPACE: 'env-ns' }, baseDir: dir, defaults },
  );
  assert.deepEqual(t, { address: 'env:7233', namespace: 'env-ns' });
  assert.deepEqual(connectionOptions(t), { address: 'env:7233' });
  assert.equal(dataConverterOf(t), undefined);
});

test('TLS files, API key and key ring are read from files and the environment (relative to the spec folder)', () => {
  writeFileSync(join(dir, 'ca.pem'), 'CA');
  writeFileSync(join(dir, 'client.pem'), 'CRT');
  writeFileSync(join(dir, 'client.key'), 'KEY');
  writeFileSync(join(dir, 'keys.txt'), `new:${keyB64}\n`);
  const t = resolveTemporalTarget(
    {
      address: 'ns.acct.tmprl.cloud:7233',
      namespace: 'ns.acct',
      tls: { serverName: 'frontend.internal', serverCaFile: 'ca.pem', clientCertFile: 'client.pem', clientKeyFile: 'client.key' },
      apiKey: { env: 'MY_TEMPORAL_KEY' },
      encryption: { keys: { file: 'keys.txt' } },
    },
    { env: { MY_TEMPORAL_KEY: ' secret-key \n' }, baseDir: dir, defaults },
  );
  const tls = {
    serverNameOverride: 'frontend.internal',
    serverRootCACertificate: Buffer.from('CA'),
    clientCertPair: { crt: Buffer.from('CRT'), key: Buffer.from('KEY') },
  };
  const expected = { address: 'ns.acct.tmprl.cloud:7233', tls, apiKey: 'secret-key' };
  assert.deepEqual(connectionOptions(t), expected);
  assert.deepEqual(nativeConnectionOptions(t), expected);
  assert.equal(t.namespace, 'ns.acct');
  assert.ok(t.codec instanceof AesGcmCodec && t.codec.keyId === 'new');
  assert.deepEqual(dataConverterOf(t), { payloadCodecs: [t.codec] });
  // `tls: true` (system CAs) and `tls: false` (plain TCP with a key, e.g. behind a local proxy) pass through as they are.
  assert.equal(connectionOptions(resolveTemporalTarget({ tls: true }, { env: {}, baseDir: dir, defaults })).tls, true);
  assert.equal(connectionOptions(resolveTemporalTarget({ tls: false }, { env: {}, baseDir: dir, defaults })).tls, false);
});

test('every missing or malformed secret is reported at once, naming where it was looked for and never its value', () => {
  writeFileSync(join(dir, 'short.txt'), `k:${randomBytes(8).toString('base64')}`);
  assert.throws(
    () =>
      resolveTemporalTarget(
        {
          tls: { serverCaFile: 'missing-ca.pem' },
          apiKey: { env: 'UNSET_KEY' },
          encryption: { keys: { file: 'short.txt' } },
        },
        { env: {}, baseDir: dir, defaults },
      ),
    (err: Error) => {
      assert.ok(err instanceof TemporalConfigError);
      assert.deepEqual(err.issues, [
        'temporal.tls.serverCaFile: cannot read missing-ca.pem (ENOENT)',
        'temporal.apiKey: environment variable UNSET_KEY is not set',
        'temporal.encryption.keys (short.txt): key k has 8 bytes, AES-256 needs 32',
      ]);
      return true;
    },
  );
});
