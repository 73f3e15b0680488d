import { join } from 'node:path';
import { Tokenizer } from 'tokenizers';
import type { TokenEmbeddingSource } from '../../../connectors/embedders/late/late-chunking.ts';
import { createLocalTokenSource } from '../../../connectors/embedders/late/local.ts';
import { readManifest } from '../../../connectors/embedders/model-files.ts';
import { type FakeServer, startJsonServer } from './late-http.ts';

// A Text Embeddings Inference stand-in backed by the real local model, serving the two routes late chunking uses
// with TEI's documented shapes (router/src/http/types.rs and server.rs):
// - POST /tokenize {inputs, add_special_tokens=true} -> [[{id, text, special, start, stop}]], offsets in UTF-8 bytes
//   of the input, start/stop null for special tokens;
// - POST /embed_all {inputs: string | [string | ids], truncate=false} -> [[[f32]]] per input, ids taken as given;
// - GET /info; errors `{ error, error_type }`: Validation 413 (over max_input_length without truncate, or a batch
//   above max_client_batch_size), Empty 400, Overloaded 429.
// Its byte offsets are computed here from the tokenizer's code-point offsets independently of offsets.ts.

export interface FakeTei extends FakeServer {
  /** The model behind it, for expected values. */
  source: TokenEmbeddingSource;
}

export async function startFakeTei(opts: {
  modelDir: string;
  maxInputLength?: number;
  maxClientBatch?: number;
}): Promise<FakeTei> {
  const manifest = await readManifest(opts.modelDir);
  const tokenizer = Tokenizer.fromFile(join(opts.modelDir, manifest.tokenizerFile));
  tokenizer.disableTruncation();
  tokenizer.disablePadding();
  const source = await createLocalTokenSource({ modelDir: opts.modelDir });
  const maxLen = opts.maxInputLength ?? manifest.maxTokens;
  const maxBatch = opts.maxClientBatch ?? 32;
  const error = (status: number, error_type: string, error: string) => ({ status, body: { error, error_type } });

  async function tokenize(text: string, special: boolean) {
    const enc = await tokenizer.encode(text, null, { addSpecialTokens: special });
    // Byte offset of every code point boundary.
    const cpBytes = [0];
    for (const ch of text) cpBytes.push(cpBytes[cpBytes.length - 1]! + Buffer.byteLength(ch, 'utf8'));
    const bytes = Buffer.from(text, 'utf8');
    const mask = enc.getSpecialTokensMask();
    const offsets = enc.getOffsets();
    return enc.getIds().map((id, i) => {
      if (mask[i] === 1) return { id, text: enc.getTokens()[i]!, special: true, start: null, stop: null };
      const [from, to] = offsets[i] as [number, number];
      const start = cpBytes[from]!;
      const stop = cpBytes[to]!;
      return { id, text: bytes.subarray(start, stop).toString('utf8'), special: false, start, stop };
    });
  }

  const server = await startJsonServer(async (req) => {
    if (req.method === 'GET' && req.path === '/info') {
      return { status: 200, body: { model_id: manifest.hfId, max_input_length: maxLen, max_client_batch_size: maxBatch } };
    }
    const body = req.body as { inputs?: unknown; add_special_tokens?: boolean; truncate?: boolean } | undefined;
    const inputs = body?.inputs;
    if (req.method !== 'POST' || (req.path !== '/tokenize' && req.path !== '/embed_all')) return { status: 404, body: {} };
    if (inputs === undefined) return error(422, 'Validation', 'missing field `inputs`');
    if (req.path === '/tokenize') {
      const texts = typeof inputs === 'string' ? [inputs] : (inputs as string[]);
      return { status: 200, body: await Promise.all(texts.map((t) => tokenize(t, body?.add_special_tokens ?? true))) };
    }
    // A flat array of numbers is one ids input; otherwise a batch of strings and id arrays.
    const batch: unknown[] =
      typeof inputs === 'string' || (Array.isArray(inputs) && typeof inputs[0] === 'number') ? [inputs] : (inputs as unknown[]);
    if (batch.length === 0) return error(400, 'Empty', 'Input validation error: `inputs` cannot be empty');
    if (batch.length > maxBatch) {
      return error(413, 'Validation', `batch size ${batch.length} > maximum allowed batch size ${maxBatch}`);
    }
    const seqs: number[][] = [];
    for (const input of batch) {
      let ids = typeof input === 'string' ? (await tokenize(input, true)).map((t) => t.id) : (input as number[]);
      if (ids.length > maxLen) {
        if (!body?.truncate) {
          return error(
            413,
            'Validation',
            `Input validation error: \`inputs\` must have less than ${maxLen} tokens. Given: ${ids.length}`,
          );
        }
        ids = ids.slice(0, maxLen);
      }
      seqs.push(ids);
    }
    const rows = await source.embedTokens(seqs);
    return {
      status: 200,
      body: rows.map((flat, b) =>
        Array.from({ length: seqs[b]!.length }, (_, t) => Array.from(flat.subarray(t * source.dims, (t + 1) * source.dims))),
      ),
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
