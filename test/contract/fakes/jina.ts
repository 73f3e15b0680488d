import { type FakeOptions, type FakeServer, type Reply, cut, fakeTokens, fakeVector, startFake } from './server.ts';

// Jina's `POST /v1/embeddings`: OpenAI's shape plus `task` (checked against the model's adapters), `dimensions`
// (Matryoshka, v3: 32..1024), `late_chunking` (inputs concatenated into one sequence of at most the model's context,
// each input pooled inside it, so its vector depends on its neighbours), `truncate`. Errors are FastAPI's
// `{ detail }`; a validation failure is 422.

export interface JinaModel {
  dims: number;
  maxTokens: number;
  tasks: string[];
  minDims?: number;
}

export const JINA_MODELS: Record<string, JinaModel> = {
  'jina-embeddings-v3': {
    dims: 1024,
    maxTokens: 8192,
    minDims: 32,
    tasks: ['retrieval.query', 'retrieval.passage', 'separation', 'classification', 'text-matching'],
  },
  'jina-embeddings-v2-base-en': { dims: 768, maxTokens: 8192, tasks: [] },
};

const bad = (detail: string, status = 422): Reply => ({ status, body: { detail } });

export function startJinaFake(
  o: FakeOptions & { models?: Record<string, JinaModel>; maxInputs?: number } = {},
): Promise<FakeServer> {
  const models = o.models ?? JINA_MODELS;
  const maxInputs = o.maxInputs ?? 2048;
  const handler = (raw: unknown): Reply => {
    const b = raw as Record<string, unknown>;
    const model = typeof b.model === 'string' ? models[b.model] : undefined;
    if (!model) return bad(`Model ${String(b.model)} is not supported`, 400);
    const input = b.input;
    if (!Array.isArray(input) || input.length === 0 || !input.every((t) => typeof t === 'string' && t.length > 0))
      return bad('input must be a non-empty list of non-empty strings');
    if (input.length > maxInputs) return bad(`input must have at most ${maxInputs} items`);
    if (b.task !== undefined && !model.tasks.includes(b.task as string))
      return bad(`task ${String(b.task)} is not supported by ${String(b.model)}`);
    let dims = model.dims;
    if (b.dimensions !== undefined) {
      const d = b.dimensions as number;
      if (model.minDims === undefined || !Number.isInteger(d) || d < model.minDims || d > model.dims)
        return bad(`dimensions ${String(d)} not supported by ${String(b.model)}`);
      dims = d;
    }
    const texts = input as string[];
    const tokens = texts.map(fakeTokens);
    const total = tokens.reduce((s, t) => s + t, 0);
    if (b.late_chunking === true && total > model.maxTokens)
      return bad(`late_chunking: the concatenated input has ${total} tokens, more than the model's ${model.maxTokens}`, 400);
    if (b.truncate !== true) {
      const i = tokens.findIndex((t) => t > model.maxTokens);
      if (i >= 0) return bad(`input ${i} exceeds the maximum of ${model.maxTokens} tokens; set truncate to true`, 400);
    }
    const context = b.late_chunking === true ? fakeVector(texts.join(' '), model.dims) : undefined;
    const data = texts.map((t, index) => {
      let v = fakeVector(t, model.dims);
      // Late chunking: the input's own span pooled in the document's context.
      if (context) v = v.map((x, i) => x + 0.5 * context[i]!);
      return { object: 'embedding', index, embedding: Array.from(cut(v, dims)) };
    });
    return { status: 200, body: { model: b.model, object: 'list', usage: { total_tokens: total, prompt_tokens: total }, data } };
  };
  return startFake({ '/v1/embeddings': handler }, bad('Unauthorized', 401), o);
}
