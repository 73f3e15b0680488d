import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boundedMessage, CENSOR, createLogger, logLevelOf, LogLevelError, MAX_MESSAGE_CHARS, scrubSecrets } from './log.ts';
import { ConnectorError, FailureType } from './errors.ts';
import { knownSecretValues, rememberSecret, resolveSecret } from './secret.ts';

/** A logger writing into an array: one parsed record per line. */
function capture(level: 'trace' | 'debug' | 'info' = 'info') {
  const out: string[] = [];
  const logger = createLogger({ level, service: 'ragline-test', destination: { write: (s) => void out.push(s) } });
  const records = () => out.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, out, records };
}

describe('log: JSON lines', () => {
  it('writes one JSON object a line with level label, ISO time, service and message', () => {
    const { logger, out, records } = capture();
    logger.info({ workflowId: 'doc:x', runId: 'r1' }, 'document ingested');
    logger.debug('not at info');
    assert.equal(out.length, 1);
    assert.ok(out[0]!.endsWith('\n'));
    const [r] = records();
    assert.equal(r!.level, 'info');
    assert.equal(r!.msg, 'document ingested');
    assert.equal(r!.service, 'ragline-test');
    assert.equal(r!.workflowId, 'doc:x');
    assert.ok(!Number.isNaN(Date.parse(r!.time as string)));
  });

  it('takes the level from the flag, else RAGLINE_LOG_LEVEL, else the fallback; refuses unknown levels', () => {
    assert.equal(logLevelOf('DEBUG', { RAGLINE_LOG_LEVEL: 'warn' }, 'info'), 'debug');
    assert.equal(logLevelOf(undefined, { RAGLINE_LOG_LEVEL: 'Warn' }, 'info'), 'warn');
    assert.equal(logLevelOf(undefined, {}, 'error'), 'error');
    assert.throws(() => logLevelOf('loud', {}, 'info'), LogLevelError);
  });
});

describe('log: redaction', () => {
  it('censors secret-bearing keys at any of the first levels, and authorization headers', () => {
    const { logger, out } = capture();
    logger.info(
      {
        apiKey: 'k-top-level-1',
        sink: { name: 'weaviate', api_key: 'k-nested-2', password: 'k-nested-3' },
        s3: { credentials: { accessKeyId: 'AKIA-4', secretAccessKey: 'k-5', sessionToken: 'k-6' } },
        request: { headers: { authorization: 'Bearer k-7', Authorization: 'Bearer k-8', 'x-api-key': 'k-9' } },
        temporal: { tls: { clientCertPair: { crt: 'c', key: 'k-10' } }, token: 'k-11', secret: 'k-12' },
        a: { b: { c: { apiKey: 'k-13' } } },
      },
      'connecting',
    );
    const line = out.join('');
    assert.ok(!/k-\d+|AKIA-4/.test(line), line);
    const r = JSON.parse(line) as { sink: { name: string; api_key: string }; request: { headers: Record<string, string> } };
    assert.equal(r.sink.name, 'weaviate', 'other fields stay');
    assert.equal(r.sink.api_key, CENSOR);
    assert.equal(r.request.headers.authorization, CENSOR);
  });

  it("censors a worker's options dump: the payload codec holds the encryption keys", () => {
    const { logger, out } = capture('debug');
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    logger.debug(
      { options: { namespace: 'n', dataConverter: { payloadCodecs: [{ encryptWith: { id: 'k1', key } }] } } },
      'Creating worker',
    );
    assert.ok(!out[0]!.includes('"data":['), out[0]);
    assert.match(out[0]!, /"dataConverter":"\[REDACTED\]"/);
  });

  it('censors secret values the process read, wherever they appear, even inside an error message', () => {
    const value = resolveSecret({ env: 'LOG_TEST_TOKEN' }, 'sink x apiKey', { env: { LOG_TEST_TOKEN: 'tok-3f9a2c71e0\n' } });
    assert.equal(value, 'tok-3f9a2c71e0');
    assert.ok(knownSecretValues().has(value));
    const { logger, out } = capture();
    logger.warn({ err: new Error(`401 from http://u:${value}@host/`), url: `https://h/?key=${value}` }, `retry ${value}`);
    assert.ok(!out[0]!.includes(value), out[0]);
    assert.equal(out[0]!.split(CENSOR).length - 1, 3);
  });

  it('censors each line of a multi-line secret (a key ring), and JSON-escaped values', () => {
    rememberSecret('ring1:c2VjcmV0LWtleS1vbmU=\nring2:c2VjcmV0LWtleS10d28=');
    assert.equal(scrubSecrets('using ring2:c2VjcmV0LWtleS10d28= now'), `using ${CENSOR} now`);
    rememberSecret('quote"d-secret\\value');
    assert.equal(scrubSecrets(JSON.stringify({ s: 'quote"d-secret\\value' })), `{"s":"${CENSOR}"}`);
    // Short values are not scrubbed by value (they would match ordinary words); their keys still are.
    rememberSecret('short');
    assert.equal(scrubSecrets('a short line'), 'a short line');
  });
});

describe('log: errors', () => {
  it('serializes errors with name, failure type, a bounded one-line message, frames only and causes', () => {
    const quoted = `bad token near "${'document text '.repeat(100)}"\nsecond line`;
    const err = new ConnectorError(FailureType.CorruptDocument, `x.pdf is not a valid PDF (${quoted})`, {
      cause: new SyntaxError(quoted),
    });
    const { logger, records } = capture();
    logger.warn({ error: err }, 'Activity failed');
    const e = records()[0]!.error as Record<string, unknown>;
    assert.equal(e.name, 'ConnectorError');
    assert.equal(e.type, 'CorruptDocument');
    const message = e.message as string;
    assert.ok(message.length <= MAX_MESSAGE_CHARS + 40, `${message.length}`);
    assert.ok(!message.includes('\n'));
    assert.match(message, /more characters\)$/);
    assert.ok(!(e.stack as string).includes('document text'), 'the stack keeps frames, not the message');
    assert.match(e.stack as string, /^at /);
    assert.equal((e.cause as Record<string, unknown>).name, 'SyntaxError');
    assert.ok(((e.cause as Record<string, unknown>).message as string).length <= MAX_MESSAGE_CHARS + 40);
  });

  it('boundedMessage flattens control characters and keeps short messages whole', () => {
    assert.equal(boundedMessage('a\u0000b\r\n\tc'), 'a b c');
    assert.equal(boundedMessage('x'.repeat(10), 4), 'xxxx... (6 more characters)');
    assert.equal(boundedMessage('short'), 'short');
  });
});
