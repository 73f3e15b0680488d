import { type FakeOptions, type FakeServer, type Reply, cut, fakeTokens, fakeVector, startFake } from './server.ts';

// Cohere's `POST /v2/embed` as documented: `model`, `texts` (at most 96), `input_type` required for v3+ models,
// `embedding_types` among float/int8/uint8/binary/ubinary, `truncate` NONE/START/END, `output_dimension` for
// embed-v4 only. The answer is keyed by type with billed input tokens in `meta`; errors are `{ id, message }`.

export interface CohereModel {
  dims: number;
  maxTokens: number;
  outputDimensions?: number[];
}

export const COHERE_MODELS: Record<string, CohereModel> = {
  'embed-english-v3.0': { dims: 1024, maxTokens: 512 },
  'embed-v4.0': { dims: 1536, maxTokens: 128_000, outputDimensions: [256, 512, 1024, 1536] },
};

const TYPES = ['float', 'int8', 'uint8', 'binary', 'ubinary'];
const INPUT_TYPES = ['search_document', 'search_query', 'classification', 'clustering', 'image'];

const bad = (message: string, status = 400): Reply => ({ status, body: { id: 'fake', message } });

/** Packs signs MSB first; `binary` is offset by -128 into int8 (the sentence-transformers convention). */
function packBits(v: Float32Array, signed: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 8) {
    let b = 0;
    for (let k = 0; k < 8; k++) b = (b << 1) | (v[i + k]! > 0 ? 1 : 0);
    out.push(signed ? b - 128 : b);
  }
  return out;
}

function encode(v: Float32Array, type: string): number[] {
  if (type === 'float') return Array.from(v);
  if (type === 'int8') return Array.from(v, (x) => Math.max(-128, Math.min(127, Math.round(x * 127))));
  if (type === 'uint8') return Array.from(v, (x) => Math.max(0, Math.min(255, Math.round((x + 1) * 127.5))));
  return packBits(v, type === 'binary');
}

export function startCohereFake(o: FakeOptions & { models?: Record<string, CohereModel> } = {}): Promise<FakeServer> {
  const models = o.models ?? COHERE_MODELS;
  const handler = (raw: unknown): Reply => {
    const b = raw as Record<string, unknown>;
    const model = typeof b.model === 'string' ? models[b.model] : undefined;
    if (!model) return bad(`model '${String(b.model)}' not found, make sure the correct model ID was used`, 404);
    const texts = b.texts;
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string'))
      return bad('invalid request: texts must be an array of strings');
    if (texts.length > 96) return bad(`invalid request: total number of texts must be at most 96 - received ${texts.length}`);
    if (typeof b.input_type !== 'string')
      return bad('invalid request: valid input_type must be provided with the provided model');
    if (!INPUT_TYPES.includes(b.input_type)) return bad(`invalid request: input_type '${b.input_type}' is not supported`);
    const types = (b.embedding_types as unknown[] | undefined) ?? ['float'];
    if (!Array.isArray(types) || !types.every((t) => typeof t === 'string' && TYPES.includes(t)))
      return bad(`invalid request: embedding_types must be one of ${TYPES.join(', ')}`);
    let dims = model.dims;
    if (b.output_dimension !== undefined) {
      if (!model.outputDimensions?.includes(b.output_dimension as number))
        return bad(`invalid request: output_dimension ${String(b.output_dimension)} is not supported by this model`);
      dims = b.output_dimension as number;
    }
    const tokens = (texts as string[]).map(fakeTokens);
    if ((b.truncate ?? 'END') === 'NONE') {
      const i = tokens.findIndex((t) => t > model.maxTokens);
      if (i >= 0) return bad(`invalid request: text at index ${i} is too long (${tokens[i]} tokens, max ${model.maxTokens})`);
    }
    if ((texts as string[]).some((t) => t.trim() === '')) return bad('invalid request: texts cannot contain empty strings');
    const vectors = (texts as string[]).map((t) => cut(fakeVector(t, model.dims), dims));
    const embeddings = Object.fromEntries((types as string[]).map((t) => [t, vectors.map((v) => encode(v, t))]));
    const billed = tokens.reduce((s, t) => s + Math.min(t, model.maxTokens), 0);
    return {
      status: 200,
      body: {
        id: 'fake-embed',
        embeddings,
        texts,
        meta: { api_version: { version: '2' }, billed_units: { input_tokens: billed } },
        response_type: 'embeddings_by_type',
      },
    };
  };
  return startFake({ '/v2/embed': handler }, bad('invalid api token', 401), o);
}
