import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailureType } from '../shared/errors.ts';
import { errorMessage, mapStatus, parseDuration, parseRetryAfter, readRateHints } from './http-core.ts';
import { estimateTokens, packBatches } from './hosted.ts';
import { checkMatryoshka, decodeFloatEmbedding, truncateAndNormalise, unpackBits } from './vectors.ts';

describe('rate-limit headers', () => {
  it('parses OpenAI reset durations and Retry-After in both forms', () => {
    assert.equal(parseDuration('6m0s'), 360_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('20ms'), 20);
    assert.equal(parseDuration('1h2m3s'), 3_723_000);
    assert.equal(parseDuration('2'), 2000);
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(parseRetryAfter('3'), 3000);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('garbage'), undefined);
  });

  it('reads the hints a response carries, preferring retry-after-ms', () => {
    const h = new Headers({
      'retry-after': '2',
      'retry-after-ms': '1234',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-remaining-tokens': '999',
      'x-ratelimit-reset-tokens': '6m0s',
    });
    assert.deepEqual(readRateHints(h), {
      retryAfterMs: 1234,
      remainingRequests: 0,
      resetRequestsMs: 1000,
      remainingTokens: 999,
      resetTokensMs: 360_000,
    });
  });

  it('maps statuses to actions and typed errors in one table', () => {
    const m = (s: number) => mapStatus('x', s, { error: { message: 'why' } }, { retryAfterMs: 5 });
    assert.equal(m(429).action, 'wait');
    assert.equal(m(429).error.type, FailureType.RateLimited);
    assert.equal(m(429).error.retryAfterMs, 5);
    assert.equal(m(503).action, 'wait');
    assert.equal(m(400).action, 'bisect');
    assert.equal(m(422).error.retryable, false);
    assert.equal(m(413).action, 'split');
    assert.equal(m(401).error.type, FailureType.Unavailable);
    assert.match(m(500).error.message, /x 500: why/);
    assert.equal(errorMessage({ detail: 'd' }), 'd');
    assert.equal(errorMessage({ message: 'm' }), 'm');
  });
});

describe('batching', () => {
  it('packs in order within the input and token limits, an oversize input alone', () => {
    const tokens = [5, 5, 5, 50, 5, 5];
    assert.deepEqual(packBatches(tokens, [0, 1, 2, 3, 4, 5], 2, 20), [[0, 1], [2], [3], [4, 5]]);
  });

  it('estimates at or above word-and-punctuation counts', () => {
    for (const t of ['a b c', 'Hello, world!', '東京は大きい', 'supercalifragilistic']) {
      const words = t.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu)!.length;
      assert.ok(estimateTokens(t) >= words, t);
    }
  });
});

describe('vectors', () => {
  it('truncates Matryoshka vectors to unit length, and refuses sizes the model lacks', () => {
    const v = truncateAndNormalise(Float32Array.from([3, 4, 12]), 2);
    assert.deepEqual(Array.from(v), [0.6000000238418579, 0.800000011920929]);
    assert.equal(checkMatryoshka('m', 1024, 256, [256, 512]), 256);
    assert.equal(checkMatryoshka('m', 1024, undefined), 1024);
    assert.equal(checkMatryoshka('m', 1536, 100, 'any'), 100);
    assert.throws(() => checkMatryoshka('m', 1024, 300, [256]), /cannot be truncated to 300/);
    assert.throws(() => checkMatryoshka('m', 1024, 2048, 'any'), /cannot be truncated/);
  });

  it('decodes base64 float32 and unpacks signed and unsigned bits MSB first', () => {
    const f = Float32Array.from([0.5, -1.25]);
    assert.deepEqual(Array.from(decodeFloatEmbedding(Buffer.from(f.buffer).toString('base64'))), [0.5, -1.25]);
    assert.throws(() => decodeFloatEmbedding({}), /neither a number array/);
    assert.deepEqual(Array.from(unpackBits([0b10100000], false)), [1, -1, 1, -1, -1, -1, -1, -1]);
    assert.deepEqual(Array.from(unpackBits([0b10100000 - 128], true)), [1, -1, 1, -1, -1, -1, -1, -1]);
  });
});
