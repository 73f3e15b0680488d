import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipelineRef } from './ref.ts';
import { defaultPipelineSpec, PipelineSpecError, validatePipelineSpec } from './spec.ts';

const base = defaultPipelineSpec({ dataDir: '/tmp/x', chromaPort: 8000 });
const withTemporal = (temporal: unknown) => validatePipelineSpec({ ...base, temporal });

test('the temporal block (address, TLS, API key, key ring) leaves the pipeline fingerprint alone', () => {
  const cloud = withTemporal({
    address: 'ns.acct.tmprl.cloud:7233',
    namespace: 'ns.acct',
    tls: true,
    apiKey: { env: 'TEMPORAL_API_KEY' },
    encryption: { keys: { env: 'RAGLINE_CODEC_KEYS' } },
  });
  const rotated = withTemporal({
    address: 'other:7233',
    tls: { serverCaFile: 'ca.pem', clientCertFile: 'c.pem', clientKeyFile: 'c.key' },
    apiKey: { file: '/run/secrets/temporal-api-key' },
    encryption: { keys: { file: 'keys.txt' } },
  });
  assert.equal(pipelineRef(cloud).fingerprint, pipelineRef(base).fingerprint);
  assert.equal(pipelineRef(rotated).fingerprint, pipelineRef(base).fingerprint);
});

test('secrets are named, never written inline; mTLS needs both files; unknown keys are refused', () => {
  const issues = (temporal: unknown): string[] => {
    try {
      withTemporal(temporal);
    } catch (err) {
      assert.ok(err instanceof PipelineSpecError);
      return err.issues;
    }
    return [];
  };
  assert.deepEqual(issues({ apiKey: { env: 'K', file: 'f' } }), ['temporal.apiKey: a secret is { env: NAME } or { file: path }']);
  assert.deepEqual(issues({ apiKey: {} }), ['temporal.apiKey: a secret is { env: NAME } or { file: path }']);
  assert.match(issues({ apiKey: 'sk-inline-secret' })[0]!, /^temporal\.apiKey: /);
  assert.match(issues({ apiKey: { env: 'not a name' } })[0]!, /temporal\.apiKey\.env: an environment variable name/);
  assert.deepEqual(issues({ tls: { clientCertFile: 'c.pem' } }), [
    'temporal.tls: clientCertFile and clientKeyFile go together (mTLS needs both)',
  ]);
  assert.deepEqual(issues({ encryption: { keys: { env: 'K' }, key: 'x' } }), [
    'temporal.encryption.key: unknown key (did you mean keys?)',
  ]);
  assert.deepEqual(issues({ tls: { serverCA: 'ca.pem' } }), ['temporal.tls.serverCA: unknown key']);
});
