import { type FakeOptions, type FakeServer, type Reply, startFake } from './server.ts';
import { cutTokens, fakeRelevanceLogit, fakeTokens, squash } from './rerank-common.ts';

// Text Embeddings Inference's `POST /rerank` as its API documents it: `{ query, texts, raw_scores, return_text,
// truncate, truncation_direction }` in, a bare array `[{ index, score, text? }]` out, best first. Errors are
// `{ error, error_type }`: texts above --max-client-batch-size, or a pair above max_input_length without `truncate`,
// are Validation 413; no texts is Empty 400; a full queue is Overloaded 429 with no Retry-After.

export interface TeiRerankFakeOptions extends FakeOptions {
  maxClientBatchSize?: number;
  maxInputLength?: number;
}

const err = (status: number, error: string, error_type: string): Reply => ({ status, body: { error, error_type } });

export function startTeiRerankFake(o: TeiRerankFakeOptions = {}): Promise<FakeServer> {
  const maxBatch = o.maxClientBatchSize ?? 32;
  const maxLen = o.maxInputLength ?? 512;
  const handler = (raw: unknown): Reply => {
    const b = raw as { query?: unknown; texts?: unknown; raw_scores?: unknown; return_text?: unknown; truncate?: unknown };
    if (typeof b.query !== 'string' || !Array.isArray(b.texts) || !b.texts.every((t) => typeof t === 'string'))
      return err(422, 'Failed to deserialize the JSON body into the target type', 'Validation');
    if (b.texts.length === 0) return err(400, '`texts` cannot be empty', 'Empty');
    if (b.texts.length > maxBatch)
      return err(413, `batch size ${b.texts.length} > maximum allowed batch size ${maxBatch}`, 'Validation');
    const query = b.query;
    const out = (b.texts as string[]).map((t, index) => {
      const n = fakeTokens(query) + fakeTokens(t);
      if (n > maxLen && b.truncate !== true) return { error: n };
      const logit = fakeRelevanceLogit(query, cutTokens(t, Math.max(1, maxLen - fakeTokens(query))));
      return { index, score: b.raw_scores === true ? logit : squash(logit), ...(b.return_text === true ? { text: t } : {}) };
    });
    const tooLong = out.find((r): r is { error: number } => 'error' in r);
    if (tooLong)
      return err(
        413,
        `Input validation error: \`inputs\` must have less than ${maxLen} tokens. Given: ${tooLong.error}`,
        'Validation',
      );
    const ok = out as { index: number; score: number }[];
    ok.sort((x, y) => y.score - x.score || x.index - y.index);
    return { status: 200, body: ok };
  };
  return startFake({ '/rerank': handler }, err(401, 'Unauthorized', 'Unauthorized'), {
    overload: err(429, 'Model is overloaded', 'Overloaded'),
    ...o,
  });
}
