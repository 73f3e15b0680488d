import { type FakeOptions, type FakeServer, type Reply, startFake } from './server.ts';
import { cutTokens, fakeRelevanceLogit, fakeTokens, squash } from './rerank-common.ts';

// Jina's `POST /v1/rerank` as its published examples show it: `{ model, query, documents, top_n, return_documents }`
// in, `{ model, usage: { total_tokens }, results: [{ index, relevance_score, document? }] }` out, best first, cut to
// `top_n`; errors FastAPI's `{ detail }`, 422 for a body that does not validate, 401 without the key. Two behaviours
// are this fake's assumptions, not read in Jina's docs: documents over the model's window are truncated server-side,
// and a request may carry at most `maxDocuments` documents (default 1,000).

export const JINA_RERANK_MODELS: Record<string, { maxTokens: number }> = {
  'jina-reranker-v2-base-multilingual': { maxTokens: 1024 },
  'jina-reranker-v1-base-en': { maxTokens: 8192 },
};

const bad = (detail: string, status = 422): Reply => ({ status, body: { detail } });

export function startJinaRerankFake(o: FakeOptions & { maxDocuments?: number } = {}): Promise<FakeServer> {
  const maxDocuments = o.maxDocuments ?? 1000;
  const handler = (raw: unknown): Reply => {
    const b = raw as Record<string, unknown>;
    const model = typeof b.model === 'string' ? JINA_RERANK_MODELS[b.model] : undefined;
    if (!model) return bad(`Model ${String(b.model)} is not supported`, 400);
    if (typeof b.query !== 'string' || b.query.trim() === '') return bad('query must be a non-empty string');
    const docs = b.documents;
    if (!Array.isArray(docs) || docs.length === 0 || !docs.every((d) => typeof d === 'string'))
      return bad('documents must be a non-empty list of strings');
    if (docs.length > maxDocuments) return bad(`documents must have at most ${maxDocuments} items`);
    const topN = b.top_n;
    if (topN !== undefined && (!Number.isInteger(topN) || (topN as number) < 1)) return bad('top_n must be a positive integer');
    const query = b.query;
    let tokens = 0;
    const results = (docs as string[]).map((d, index) => {
      const seen = cutTokens(d, Math.max(1, model.maxTokens - fakeTokens(query)));
      tokens += fakeTokens(query) + fakeTokens(seen);
      return {
        index,
        relevance_score: squash(fakeRelevanceLogit(query, seen)),
        ...(b.return_documents === false ? {} : { document: { text: d } }),
      };
    });
    results.sort((x, y) => y.relevance_score - x.relevance_score || x.index - y.index);
    return {
      status: 200,
      body: {
        model: b.model,
        usage: { total_tokens: tokens },
        results: results.slice(0, (topN as number | undefined) ?? results.length),
      },
    };
  };
  return startFake({ '/v1/rerank': handler }, bad('Unauthorized', 401), o);
}
