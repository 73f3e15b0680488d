import { createLateChunkEmbedder, type TokenEmbeddingSource } from '../../../connectors/embedders/late/late-chunking.ts';
import { createLocalTokenSource } from '../../../connectors/embedders/late/local.ts';
import { type FakeServer, startJsonServer } from './late-http.ts';

// A stand-in for Jina's `POST /v1/embeddings` (api.jina.ai/redoc), backed by the real local model so vectors mean
// something. Request: `{ model, input: string[], task?, dimensions?, late_chunking?, embedding_type?, normalized? }`
// with `Authorization: Bearer`. With `late_chunking: true` the inputs are concatenated (joined by a space, one
// document) and each input's vector is the mean of its tokens over one pass; the combined input must fit the
// window (`maxTokens`), else 400. Response: `{ model, object: 'list', usage: { total_tokens, prompt_tokens },
// data: [{ object: 'embedding', index, embedding }] }`. Errors are FastAPI's `{ detail }`: 401, 400/422, 429.

const TASKS = [
  'retrieval.query',
  'retrieval.passage',
  'separation',
  'classification',
  'text-matching',
  'code.query',
  'code.passage',
];

export interface FakeJina extends FakeServer {
  source: TokenEmbeddingSource;
}

export async function startFakeJina(opts: { modelDir: string; apiKey: string; maxTokens?: number }): Promise<FakeJina> {
  const source = await createLocalTokenSource({ modelDir: opts.modelDir });
  // The whole concatenation in one pass: a window large enough that no macro windows are used.
  const oneWindow = { ...source, windowTokens: 1 << 30, close: async () => {} };
  const late = createLateChunkEmbedder(oneWindow);
  const maxTokens = opts.maxTokens ?? source.windowTokens;
  const detail = (status: number, msg: string) => ({ status, body: { detail: msg } });

  const server = await startJsonServer(async (req) => {
    if (req.method !== 'POST' || req.path !== '/v1/embeddings') return detail(404, 'Not Found');
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) return detail(401, 'Unauthorized: invalid API key');
    const b = req.body as Record<string, unknown> | undefined;
    const input = b?.input;
    if (typeof b?.model !== 'string') return detail(422, 'model: field required');
    if (!Array.isArray(input) || input.length === 0 || !input.every((s) => typeof s === 'string' && s.length > 0)) {
      return detail(422, 'input: a non-empty list of non-empty strings');
    }
    if (b.task !== undefined && !TASKS.includes(b.task as string)) return detail(422, `task: unknown ${String(b.task)}`);
    if (b.embedding_type !== undefined && b.embedding_type !== 'float') return detail(422, 'this fake serves float only');
    const texts = input as string[];
    let vectors: Float32Array[];
    let tokens: number;
    if (b.late_chunking === true) {
      const doc = texts.join(' ');
      tokens = (await source.tokenize(doc)).ids.length;
      if (tokens > maxTokens) return detail(400, `late chunking input too long: ${tokens} tokens > ${maxTokens}`);
      let at = 0;
      const spans = texts.map((t) => {
        const span = { start: at, end: at + t.length };
        at += t.length + 1;
        return span;
      });
      vectors = await late.embedChunks(doc, spans);
    } else {
      vectors = [];
      tokens = 0;
      for (const t of texts) {
        tokens += (await source.tokenize(t)).ids.length;
        vectors.push(...(await late.embedChunks(t, [{ start: 0, end: t.length }])));
      }
    }
    return {
      status: 200,
      body: {
        model: b.model,
        object: 'list',
        usage: { total_tokens: tokens, prompt_tokens: tokens },
        data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: Array.from(v) })),
      },
    };
  });
  return {
    ...server,
    source,
    async close() {
      await server.close();
      await source.close();
    },
  };
}
