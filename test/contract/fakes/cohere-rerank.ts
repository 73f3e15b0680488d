import { type FakeOptions, type FakeServer, type Reply, startFake } from './server.ts';
import { cutTokens, fakeRelevanceLogit, fakeTokens, squash } from './rerank-common.ts';

// Cohere's Rerank v2, `POST /v2/rerank`, as its API reference documents it: `model` required, `query`, `documents` a
// list of strings (1 to 10,000), `top_n`, `max_tokens_per_doc` (default 4,096: longer documents are truncated), a
// query of at most 2,048 tokens. The answer is `{ id, results: [{ index, relevance_score }], meta }` best first;
// errors are `{ message }` (400 invalid request, 404 unknown model, 401 bad key).

export const COHERE_RERANK_MODELS = new Set(['rerank-v3.5', 'rerank-english-v3.0', 'rerank-multilingual-v3.0']);

const bad = (message: string, status = 400): Reply => ({ status, body: { id: 'fake', message } });

export function startCohereRerankFake(o: FakeOptions = {}): Promise<FakeServer> {
  const handler = (raw: unknown): Reply => {
    const b = raw as Record<string, unknown>;
    if (typeof b.model !== 'string') return bad('invalid request: model must be provided');
    if (!COHERE_RERANK_MODELS.has(b.model))
      return bad(`model '${b.model}' not found, make sure the correct model ID was used`, 404);
    if (typeof b.query !== 'string' || b.query.trim() === '') return bad('invalid request: query must be a non-empty string');
    if (fakeTokens(b.query) > 2048) return bad(`invalid request: query is ${fakeTokens(b.query)} tokens, the maximum is 2048`);
    const docs = b.documents;
    if (!Array.isArray(docs) || !docs.every((d) => typeof d === 'string'))
      return bad('invalid request: documents must be a list of strings');
    if (docs.length === 0) return bad('invalid request: list of documents must not be empty');
    if (docs.length > 10_000) return bad(`invalid request: at most 10000 documents are allowed, got ${docs.length}`);
    const topN = b.top_n;
    if (topN !== undefined && (!Number.isInteger(topN) || (topN as number) < 1))
      return bad('invalid request: top_n must be a positive integer');
    const perDoc = (b.max_tokens_per_doc as number | undefined) ?? 4096;
    if (!Number.isInteger(perDoc) || perDoc < 1) return bad('invalid request: max_tokens_per_doc must be a positive integer');
    const query = b.query;
    const results = (docs as string[]).map((d, index) => ({
      index,
      relevance_score: squash(fakeRelevanceLogit(query, cutTokens(d, perDoc))),
    }));
    results.sort((x, y) => y.relevance_score - x.relevance_score || x.index - y.index);
    return {
      status: 200,
      body: {
        id: 'fake-rerank',
        results: results.slice(0, (topN as number | undefined) ?? results.length),
        meta: { api_version: { version: '2' }, billed_units: { search_units: Math.ceil(docs.length / 100) } },
      },
    };
  };
  return startFake({ '/v2/rerank': handler }, bad('invalid api token', 401), o);
}
