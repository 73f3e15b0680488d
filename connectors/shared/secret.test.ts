import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FailureType } from './errors.ts';
import { resolveSecret, SecretError, SecretInput, SecretRef } from './secret.ts';

const dir = mkdtempSync(join(tmpdir(), 'ragline-secret-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const source = (env: NodeJS.ProcessEnv = {}) => ({ env, baseDir: dir });

test('a secret comes from a variable, a file relative to the spec folder, or (inline inputs only) the value', () => {
  writeFileSync(join(dir, 'key'), 'from-file\n');
  assert.equal(resolveSecret({ env: 'K' }, 'x', source({ K: 'from-env' })), 'from-env');
  assert.equal(resolveSecret({ file: 'key' }, 'x', source()), 'from-file');
  assert.equal(resolveSecret({ file: join(dir, 'key') }, 'x', { env: {} }), 'from-file');
  assert.equal(resolveSecret('inline', 'x', source()), 'inline');
});

test('a missing or empty secret is a typed error naming the variable or file, never a value', () => {
  writeFileSync(join(dir, 'blank'), ' \n');
  const cases: Array<[SecretRef, NodeJS.ProcessEnv, string]> = [
    [{ env: 'K' }, {}, 'sink s apiKey: environment variable K is not set'],
    [{ env: 'K' }, { K: '  ' }, 'sink s apiKey: environment variable K is empty'],
    [{ file: 'nope' }, {}, `sink s apiKey: file ${join(dir, 'nope')} cannot be read (ENOENT)`],
    [{ file: 'blank' }, {}, `sink s apiKey: file ${join(dir, 'blank')} is empty`],
  ];
  for (const [ref, env, message] of cases) {
    assert.throws(
      () => resolveSecret(ref, 'sink s apiKey', source(env)),
      (err: unknown) => {
        assert.ok(err instanceof SecretError);
        assert.equal(err.type, FailureType.InvalidInput);
        assert.equal(err.retryable, false);
        assert.equal(err.message, message);
        return true;
      },
    );
  }
});

test('a reference is exactly one of env and file; new settings take no inline value', () => {
  assert.ok(SecretRef.safeParse({ env: 'A_B' }).success);
  assert.ok(SecretRef.safeParse({ file: 'x' }).success);
  for (const bad of [{ env: 'A', file: 'x' }, { env: '1A' }, {}, 'inline', { env: '' }]) {
    const res = SecretRef.safeParse(bad);
    assert.equal(res.success, false, JSON.stringify(bad));
    assert.match(res.error!.issues[0]!.message, /a secret is \{ env: NAME \} or \{ file: path \}|an environment variable name/);
  }
  assert.ok(SecretInput.safeParse('inline').success);
  assert.equal(SecretInput.safeParse('').success, false);
});
