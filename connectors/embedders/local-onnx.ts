import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { Tokenizer } from 'tokenizers';
import { z } from 'zod';
import type { TokenCounter } from '../chunkers/chunker.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { Embedder } from './embedder.ts';
import { downloadFromHub } from './local-onnx-hub.ts';
import { type ModelManifest, readManifest } from './model-files.ts';
import { WordPieceCounter } from './tokenizer-count.ts';

export const LocalOnnxConfig = z.object({
  /** Folder with model.json, the ONNX file and tokenizer.json (scripts/fetch-model.ts fills it). */
  modelDir: z.string().min(1),
  /** Hugging Face id to download into modelDir when it is empty; only with allowRemote. */
  hubModelId: z.string().min(1).optional(),
  allowRemote: z.boolean().default(false),
  /** Padded tokens per onnxruntime run (batch size x longest input): bounds memory and keeps padding waste small. */
  maxBatchTokens: z.number().int().positive().default(8192),
  /** Intra-op threads; 0 leaves onnxruntime's default (one per core). */
  threads: z.number().int().nonnegative().default(0),
});
export type LocalOnnxConfig = z.input<typeof LocalOnnxConfig>;

export type LocalOnnxEmbedder = Embedder & { readonly tokenCounter: TokenCounter };

const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);
// The int64 tensors are filled through an Int32Array view (low word = value), which avoids a BigInt per token.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

async function loadManifest(cfg: z.output<typeof LocalOnnxConfig>): Promise<ModelManifest> {
  try {
    return await readManifest(cfg.modelDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConnectorError(FailureType.InvalidInput, `${cfg.modelDir}/model.json is not a valid model manifest`, {
        cause: err,
      });
    }
    if (cfg.hubModelId && cfg.allowRemote) return downloadFromHub(cfg.hubModelId, cfg.modelDir);
    throw new ConnectorError(
      FailureType.NotFound,
      `no model in ${cfg.modelDir}: run \`node scripts/fetch-model.ts\` (or set hubModelId with allowRemote)`,
      { cause: err },
    );
  }
}

async function loadTokenizer(
  modelDir: string,
  manifest: ModelManifest,
): Promise<{ tokenizer: Tokenizer; counter: TokenCounter }> {
  const path = join(modelDir, manifest.tokenizerFile);
  const tokenizer = Tokenizer.fromFile(path);
  // tokenizer.json files often carry the training-time settings (all-MiniLM's pads every input to 128).
  tokenizer.setTruncation(manifest.maxTokens);
  tokenizer.disablePadding();
  const wordPiece = new WordPieceCounter(
    JSON.parse(await readFile(path, 'utf8')),
    tokenizer.getNormalizer(),
    tokenizer.getPreTokenizer(),
  );
  return { tokenizer, counter: { name: `wordpiece:${manifest.name}`, count: (text) => wordPiece.count(text) } };
}

/** The model's token counter alone, for processes that chunk but do not embed (no onnxruntime session). */
export async function loadTokenCounter(modelDir: string): Promise<TokenCounter> {
  return (await loadTokenizer(modelDir, await loadManifest(LocalOnnxConfig.parse({ modelDir })))).counter;
}

/** Sentence embeddings on the CPU with onnxruntime: a BERT-class model, its own tokenizer, pooling as the model says. */
export async function createLocalOnnxEmbedder(config: LocalOnnxConfig): Promise<LocalOnnxEmbedder> {
  const cfg = LocalOnnxConfig.parse(config);
  if (!LITTLE_ENDIAN) throw new ConnectorError(FailureType.Unavailable, 'local-onnx needs a little-endian machine');
  const manifest = await loadManifest(cfg);
  const { dims, maxTokens, pooling, normalize } = manifest;

  const { tokenizer, counter } = await loadTokenizer(cfg.modelDir, manifest);

  // Loaded here, not at module load: processes that only count tokens (ingest workers) never map onnxruntime.
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(join(cfg.modelDir, manifest.onnxFile), {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(cfg.threads > 0 ? { intraOpNumThreads: cfg.threads } : {}),
  });
  const unknown = session.inputNames.filter((n) => !KNOWN_INPUTS.has(n));
  if (unknown.length > 0 || !session.inputNames.includes('input_ids')) {
    await session.release();
    throw new ConnectorError(FailureType.InvalidInput, `unsupported model inputs: ${session.inputNames.join(', ')}`);
  }
  const wantMask = session.inputNames.includes('attention_mask');
  const wantTypes = session.inputNames.includes('token_type_ids');
  const outputName = session.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : session.outputNames[0]!;
  let closed = false;

  /** One onnxruntime run over sequences padded to `len`; returns one pooled (and maybe normalised) vector each. */
  async function runBatch(seqs: number[][], len: number): Promise<Float32Array[]> {
    const batch = seqs.length;
    const ids = new BigInt64Array(batch * len);
    const mask = new BigInt64Array(batch * len);
    const ids32 = new Int32Array(ids.buffer);
    const mask32 = new Int32Array(mask.buffer);
    for (let b = 0; b < batch; b++) {
      const seq = seqs[b]!;
      const base = 2 * b * len;
      for (let t = 0; t < seq.length; t++) {
        ids32[base + 2 * t] = seq[t]!;
        mask32[base + 2 * t] = 1;
      }
    }
    const shape = [batch, len];
    const feeds: Record<string, Ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, shape) };
    if (wantMask) feeds.attention_mask = new ort.Tensor('int64', mask, shape);
    if (wantTypes) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(batch * len), shape);
    let out: Ort.Tensor;
    try {
      out = (await session.run(feeds, [outputName]))[outputName]!;
    } catch (err) {
      throw new ConnectorError(FailureType.Unavailable, `onnxruntime run failed: ${(err as Error).message}`, { cause: err });
    }
    const hidden = out.data as Float32Array;
    // An export that pools inside the graph gives [batch, dims]; a plain encoder gives [batch, len, dims].
    const pooled = out.dims.length === 2;
    const acc = new Float64Array(dims);
    const vectors: Float32Array[] = [];
    for (let b = 0; b < batch; b++) {
      acc.fill(0);
      const n = seqs[b]!.length;
      const rows = pooled || pooling === 'cls' ? 1 : n;
      const first = pooled ? b * dims : b * len * dims;
      for (let t = 0; t < rows; t++) {
        const base = first + t * dims;
        for (let d = 0; d < dims; d++) acc[d]! += hidden[base + d]!;
      }
      let sq = 0;
      for (let d = 0; d < dims; d++) {
        acc[d]! /= rows;
        sq += acc[d]! * acc[d]!;
      }
      const scale = normalize && sq > 0 ? 1 / Math.sqrt(sq) : 1;
      const v = new Float32Array(dims);
      for (let d = 0; d < dims; d++) v[d] = acc[d]! * scale;
      vectors.push(v);
    }
    out.dispose();
    return vectors;
  }

  async function embed(texts: string[], prefix: string): Promise<Float32Array[]> {
    if (closed) throw new Error('local-onnx embedder is closed');
    if (texts.length === 0) return [];
    for (const t of texts) {
      if (typeof t !== 'string') throw new ConnectorError(FailureType.InvalidInput, 'texts to embed must be strings');
    }
    const encodings = await tokenizer.encodeBatch(prefix ? texts.map((t) => prefix + t) : texts);
    const seqs = encodings.map((e) => e.getIds());
    // Longest first, so each batch's first sequence sets its padded length; batches then hold similar lengths.
    const order = Array.from(seqs.keys()).sort((a, b) => seqs[b]!.length - seqs[a]!.length);
    const result = new Array<Float32Array>(texts.length);
    for (let i = 0; i < order.length;) {
      const len = seqs[order[i]!]!.length;
      const size = Math.min(order.length - i, Math.max(1, Math.floor(cfg.maxBatchTokens / len)));
      const members = order.slice(i, i + size);
      const vectors = await runBatch(
        members.map((k) => seqs[k]!),
        len,
      );
      for (let j = 0; j < size; j++) result[members[j]!] = vectors[j]!;
      i += size;
    }
    return result;
  }

  return {
    identity: `local-onnx:${manifest.name}:${dims}:p1`,
    dims,
    metric: 'cosine',
    maxTokens,
    tokenCounter: counter,
    countTokens: (text) => counter.count(text),
    embedDocuments: (texts) => embed(texts, manifest.documentPrefix),
    embedQuery: async (text) => (await embed([text], manifest.queryPrefix))[0]!,
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
