import { type FakeOptions, type FakeServer, type Reply, cut, fakeTokens, fakeVector, startFake } from './server.ts';

// Text Embeddings Inference's `POST /embed`: `inputs` a string or array, `normalize`, `truncate`,
// `truncation_direction`; the answer is a bare array of vectors. Errors are `{ error, error_type }`: a batch above
// --max-client-batch-size or an input above max_input_length without `truncate` is Validation (413), an empty
// `inputs` is Empty (400), a full queue is Overloaded (429, no Retry-After).

export interface TeiFakeOptions extends FakeOptions {
  dims?: number;
  maxClientBatchSize?: number;
  maxInputLength?: number;
}

const err = (status: number, error: string, error_type: string): Reply => ({ status, body: { error, error_type } });

export function startTeiFake(o: TeiFakeOptions = {}): Promise<FakeServer> {
  const dims = o.dims ?? 384;
  const maxBatch = o.maxClientBatchSize ?? 32;
  const maxLen = o.maxInputLength ?? 512;
  const handler = (raw: unknown): Reply => {
    const b = raw as { inputs?: unknown; normalize?: unknown; truncate?: unknown };
    const inputs = typeof b.inputs === 'string' ? [b.inputs] : b.inputs;
    if (!Array.isArray(inputs) || !inputs.every((x) => typeof x === 'string')) {
      return err(422, 'Failed to deserialize the JSON body into the target type: inputs', 'Validation');
    }
    if (inputs.length === 0) return err(400, '`inputs` cannot be empty', 'Empty');
    if (inputs.length > maxBatch) {
      return err(413, `batch size ${inputs.length} > maximum allowed batch size ${maxBatch}`, 'Validation');
    }
    for (const text of inputs as string[]) {
      const n = fakeTokens(text);
      if (b.truncate !== true && n > maxLen) {
        return err(413, `Input validation error: \`inputs\` must have less than ${maxLen} tokens. Given: ${n}`, 'Validation');
      }
    }
    const out = (inputs as string[]).map((t) => {
      const v = fakeVector(t, dims);
      // normalize=false: the pooled vector before normalisation; any non-unit scale will do for a fake.
      return Array.from(b.normalize === false ? v.map((x) => x * 3) : cut(v, dims));
    });
    return { status: 200, body: out };
  };
  return startFake({ '/embed': handler }, err(401, 'Unauthorized', 'Unauthorized'), {
    overload: err(429, 'Model is overloaded', 'Overloaded'),
    ...o,
  });
}
