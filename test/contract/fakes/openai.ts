import { type FakeOptions, type FakeServer, type Reply, cut, fakeTokens, fakeVector, startFake } from './server.ts';

// OpenAI's `POST /v1/embeddings` as documented: `input` a string or an array of at most 2,048 non-empty strings,
// at most 8,192 tokens per input and 300,000 per request, `dimensions` only for models that take it (v3),
// `encoding_format` float or base64 (little-endian float32), errors as `{ error: { message, type, param, code } }`.
// The same shape stands in for vLLM, Infinity, TEI's /v1/embeddings, Volcengine Ark and mixedbread (256 inputs).

export interface OpenAIModel {
  dims: number;
  /** Accepts `dimensions` (server-side Matryoshka). */
  dimensions?: boolean;
}

export interface OpenAIFakeOptions extends FakeOptions {
  models?: Record<string, OpenAIModel>;
  maxInputs?: number;
  maxTokensPerInput?: number;
  maxTokensPerRequest?: number;
  /** Route prefix: `/v1` (OpenAI, vLLM, TEI, mixedbread), `/api/v3` (Ark) or '' (Infinity). */
  prefix?: string;
}

export const OPENAI_MODELS: Record<string, OpenAIModel> = {
  'text-embedding-3-small': { dims: 1536, dimensions: true },
  'text-embedding-3-large': { dims: 3072, dimensions: true },
  'text-embedding-ada-002': { dims: 1536 },
};

function invalid(message: string, param: string | null = null, code: string | null = null, status = 400): Reply {
  return { status, body: { error: { message, type: 'invalid_request_error', param, code } } };
}

export function openAIHandler(o: OpenAIFakeOptions) {
  const models = o.models ?? OPENAI_MODELS;
  const maxInputs = o.maxInputs ?? 2048;
  const perInput = o.maxTokensPerInput ?? 8192;
  const perRequest = o.maxTokensPerRequest ?? 300_000;
  return (raw: unknown): Reply => {
    const b = raw as { model?: unknown; input?: unknown; dimensions?: unknown; encoding_format?: unknown };
    if (typeof b.model !== 'string') return invalid('you must provide a model parameter', 'model');
    const model = models[b.model];
    if (!model)
      return invalid(`The model \`${b.model}\` does not exist or you do not have access to it.`, null, 'model_not_found', 404);
    const inputs = typeof b.input === 'string' ? [b.input] : b.input;
    if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((x) => typeof x === 'string' && x.length > 0)) {
      return invalid(
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        'input',
      );
    }
    if (inputs.length > maxInputs) return invalid(`'$.input' is too long. Maximum allowed is ${maxInputs} items.`, 'input');
    const tokens = (inputs as string[]).map(fakeTokens);
    const longest = Math.max(...tokens);
    if (longest > perInput) {
      return invalid(
        `This model's maximum context length is ${perInput} tokens, however you requested ${longest} tokens in your input. Please reduce your input.`,
        'input',
      );
    }
    const total = tokens.reduce((s, t) => s + t, 0);
    if (total > perRequest)
      return invalid(`Requested ${total} tokens, max ${perRequest} tokens per request`, 'input', 'max_tokens_per_request');
    let dims = model.dims;
    if (b.dimensions !== undefined) {
      if (!model.dimensions) return invalid('This model does not support specifying dimensions.', 'dimensions');
      if (!Number.isInteger(b.dimensions) || (b.dimensions as number) < 1 || (b.dimensions as number) > model.dims)
        return invalid(`Invalid value for 'dimensions': must be between 1 and ${model.dims}.`, 'dimensions');
      dims = b.dimensions as number;
    }
    const format = b.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64')
      return invalid("'encoding_format' must be 'float' or 'base64'", 'encoding_format');
    const data = (inputs as string[]).map((text, index) => {
      const v = cut(fakeVector(text, model.dims), dims);
      const embedding =
        format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
      return { object: 'embedding', index, embedding };
    });
    // Reversed on purpose: clients must order by `index`, not by position.
    data.reverse();
    return { status: 200, body: { object: 'list', data, model: b.model, usage: { prompt_tokens: total, total_tokens: total } } };
  };
}

export function startOpenAIFake(o: OpenAIFakeOptions = {}): Promise<FakeServer> {
  const prefix = o.prefix ?? '/v1';
  const unauthorised: Reply = {
    status: 401,
    body: {
      error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
    },
  };
  return startFake({ [`${prefix}/embeddings`]: openAIHandler(o) }, unauthorised, o);
}
