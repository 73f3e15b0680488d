import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { Tokenizer } from 'tokenizers';
import { z } from 'zod';
import type { TokenCounter } from '../chunkers/chunker.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { embedderIdentity, findModel, formatDocument, formatQuery, promptParts, promptVersion } from './catalog.ts';
import type { Embedder } from './embedder.ts';
import { downloadFromHub } from './local-onnx-hub.ts';
import { type ModelManifest, readManifest } from './model-files.ts';
import { WordPieceCounter } from './tokenizer-count.ts';

/** Where a local ONNX model comes from and how onnxruntime runs it: shared by the embedder and the reranker. */
export const LocalOnnxRuntimeFields = {
  /** Hugging Face id to download into modelDir when it is empty; only with allowRemote. */
  hubModelId: z.string().min(1).optional(),
  allowRemote: z.boolean().default(false),
  /** Intra-op threads; 0 leaves onnxruntime's default (one per core). */
  threads: z.number().int().nonnegative().default(0),
  /**
   * Let onnxruntime's threads busy-wait between parallel sections and runs. Off by default: on a host shared with
   * other work (tokenizing, pooling, other workers) the spinning threads take the cores that work needs, and runs of
   * hundreds of milliseconds gain nothing from the saved wake-ups.
   */
  spin: z.boolean().default(false),
};

export const LocalOnnxConfig = z.object({
  /** Folder with model.json, the ONNX file and tokenizer.json (scripts/fetch-model.ts fills it). */
  modelDir: z.string().min(1),
  ...LocalOnnxRuntimeFields,
  /** Padded tokens per onnxruntime run (batch size x longest input): bounds memory and keeps padding waste small. */
  maxBatchTokens: z.number().int().positive().default(512),
  /** Instruction-tuned models in the catalog only: the query / document task instead of the model's retrieval default. */
  queryTask: z.string().min(1).optional(),
  documentTask: z.string().min(1).optional(),
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

/**
 * Splits inputs, longest first, into runs of at most `maxBatchTokens` padded tokens. Sorting puts similar lengths
 * together, so padding waste stays small, and each run's first sequence sets its padded length.
 */
export function planBatches(lengths: readonly number[], maxBatchTokens: number): { members: number[]; len: number }[] {
  const order = Array.from(lengths.keys()).sort((a, b) => lengths[b]! - lengths[a]!);
  const batches: { members: number[]; len: number }[] = [];
  for (let i = 0; i < order.length;) {
    const len = lengths[order[i]!]!;
    const size = Math.min(order.length - i, Math.max(1, Math.floor(maxBatchTokens / Math.max(1, len))));
    batches.push({ members: order.slice(i, i + size), len });
    i += size;
  }
  return batches;
}

/**
 * How the model wants its inputs formatted. A model the catalog knows is formatted by the catalog, and its manifest
 * must agree with the entry on width and pooling: a folder that disagrees holds another model (or a broken export),
 * and embedding with it would quietly ruin retrieval. Unknown models use the manifest's own prefixes.
 */
function resolveFormats(
  manifest: ModelManifest,
  cfg: z.output<typeof LocalOnnxConfig>,
): { query: (t: string) => string; document: (t: string) => string } {
  const entry = findModel(manifest.hfId);
  if (!entry) {
    if (cfg.queryTask || cfg.documentTask) {
      throw new ConnectorError(FailureType.InvalidInput, `${manifest.hfId} is not in the model catalog: it takes no tasks`);
    }
    return { query: (t) => manifest.queryPrefix + t, document: (t) => manifest.documentPrefix + t };
  }
  const problems: string[] = [];
  if (!entry.providers.includes('local-onnx')) problems.push(`the catalog does not list local-onnx among its providers`);
  if (entry.dims !== manifest.dims) problems.push(`dims ${manifest.dims}, catalog ${entry.dims}`);
  if (entry.pooling !== manifest.pooling) problems.push(`pooling ${manifest.pooling}, catalog ${entry.pooling}`);
  for (const side of ['query', 'document'] as const) {
    const own = side === 'query' ? manifest.queryPrefix : manifest.documentPrefix;
    const want = promptParts(entry, side, '').prefix;
    if (own !== '' && own !== want) problems.push(`${side} prefix ${JSON.stringify(own)}, catalog ${JSON.stringify(want)}`);
  }
  if (problems.length > 0) {
    throw new ConnectorError(FailureType.InvalidInput, `model ${manifest.name} (${manifest.hfId}): ${problems.join('; ')}`);
  }
  const q = { task: cfg.queryTask };
  const d = { task: cfg.documentTask };
  // Checked once here, so a bad task fails at start rather than on the first batch.
  formatQuery(entry, '', q);
  formatDocument(entry, '', d);
  return { query: (t) => formatQuery(entry, t, q), document: (t) => formatDocument(entry, t, d) };
}

/** The onnxruntime session options the embedder uses; exported so a benchmark can create a session alike. */
export function onnxSessionOptions(cfg: z.output<typeof LocalOnnxConfig>): Ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // Memory patterns plan one allocation layout per input shape and keep every plan; our batches vary in size and
    // padded length, so they only pile up (all-MiniLM over 700 chunks: peak 465 MB with them, 405 MB without, and
    // no slower). The arena stays on: without it the same run takes twice as long.
    enableMemPattern: false,
    ...(cfg.threads > 0 ? { intraOpNumThreads: cfg.threads } : {}),
    extra: { session: { intra_op: { allow_spinning: cfg.spin ? '1' : '0' } } },
  };
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
  const formats = resolveFormats(manifest, cfg);

  const { tokenizer, counter } = await loadTokenizer(cfg.modelDir, manifest);

  // Loaded here, not at module load: processes that only count tokens (ingest workers) never map onnxruntime.
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(join(cfg.modelDir, manifest.onnxFile), onnxSessionOptions(cfg));
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

  async function embed(texts: string[], format: (t: string) => string): Promise<Float32Array[]> {
    if (closed) throw new Error('local-onnx embedder is closed');
    if (texts.length === 0) return [];
    for (const t of texts) {
      if (typeof t !== 'string') throw new ConnectorError(FailureType.InvalidInput, 'texts to embed must be strings');
    }
    const encodings = await tokenizer.encodeBatch(texts.map(format));
    const seqs = encodings.map((e) => e.getIds());
    const result = new Array<Float32Array>(texts.length);
    for (const { members, len } of planBatches(
      seqs.map((s) => s.length),
      cfg.maxBatchTokens,
    )) {
      const vectors = await runBatch(
        members.map((k) => seqs[k]!),
        len,
      );
      for (let j = 0; j < members.length; j++) result[members[j]!] = vectors[j]!;
    }
    return result;
  }

  return {
    identity: embedderIdentity({
      provider: 'local-onnx',
      model: manifest.name,
      dims,
      promptVersion: promptVersion(formats.query, formats.document),
    }),
    dims,
    metric: 'cosine',
    maxTokens,
    tokenCounter: counter,
    countTokens: (text) => counter.count(text),
    embedDocuments: (texts) => embed(texts, formats.document),
    embedQuery: async (text) => (await embed([text], formats.query))[0]!,
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
