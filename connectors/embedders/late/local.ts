import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { Tokenizer } from 'tokenizers';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../../shared/errors.ts';
import { embedderIdentity, findModel, formatDocument, formatQuery, promptParts, promptVersion } from '../catalog.ts';
import { readManifest } from '../model-files.ts';
import {
  createLateChunkEmbedder,
  type LateChunkEmbedder,
  type TokenEmbeddingSource,
  type TokenizedText,
} from './late-chunking.ts';
import { OffsetUnit, spansToUtf16 } from './offsets.ts';

// Its own onnxruntime session over the same model folder as the local-onnx embedder, returning the encoder's last
// hidden state instead of a pooled vector. The identity it reports is local-onnx's for the same folder, so queries
// embedded by local-onnx land in the same space as these late-chunked passages.

export const LocalLateConfig = z.object({
  /** Folder with model.json, the ONNX file and tokenizer.json (scripts/fetch-model.ts fills it). */
  modelDir: z.string().min(1),
  /** Tokens per forward pass; default the model's window (model.json maxTokens). */
  windowTokens: z.number().int().min(8).optional(),
  /** Tokens shared by consecutive macro windows; default a quarter of the window. */
  overlapTokens: z.number().int().min(0).optional(),
  /** Padded tokens per onnxruntime run. */
  maxBatchTokens: z.number().int().positive().default(4096),
  /** Intra-op threads; 0 leaves onnxruntime's default. */
  threads: z.number().int().nonnegative().default(0),
});
export type LocalLateConfig = z.input<typeof LocalLateConfig>;

const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);

/** Token embeddings from the local ONNX model, with the tokenizer's offsets mapped from code points to UTF-16. */
export async function createLocalTokenSource(config: LocalLateConfig): Promise<TokenEmbeddingSource> {
  const cfg = LocalLateConfig.parse(config);
  const manifest = await readManifest(cfg.modelDir).catch((err: unknown) => {
    throw new ConnectorError(
      FailureType.NotFound,
      `no usable model.json in ${cfg.modelDir}: run \`node scripts/fetch-model.ts\``,
      {
        cause: err,
      },
    );
  });
  if (manifest.pooling !== 'mean') {
    // Late chunking mean-pools by construction; on a CLS model the vectors would leave the space its queries use.
    throw new ConnectorError(
      FailureType.InvalidInput,
      `late chunking needs a mean-pooled model; ${manifest.name} pools ${manifest.pooling}`,
    );
  }
  const entry = findModel(manifest.hfId);
  const documentPrefix = entry ? promptParts(entry, 'document', '').prefix : manifest.documentPrefix;
  const query = entry ? (t: string) => formatQuery(entry, t) : (t: string) => manifest.queryPrefix + t;
  const document = entry ? (t: string) => formatDocument(entry, t) : (t: string) => manifest.documentPrefix + t;
  const windowTokens = Math.min(cfg.windowTokens ?? manifest.maxTokens, manifest.maxTokens);

  const tokenizer = Tokenizer.fromFile(join(cfg.modelDir, manifest.tokenizerFile));
  tokenizer.disableTruncation();
  tokenizer.disablePadding();

  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(join(cfg.modelDir, manifest.onnxFile), {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableMemPattern: false, // see onnxSessionOptions: every document is its own shape
    ...(cfg.threads > 0 ? { intraOpNumThreads: cfg.threads } : {}),
  });
  if (session.inputNames.some((n) => !KNOWN_INPUTS.has(n)) || !session.inputNames.includes('input_ids')) {
    await session.release();
    throw new ConnectorError(FailureType.InvalidInput, `unsupported model inputs: ${session.inputNames.join(', ')}`);
  }
  const wantMask = session.inputNames.includes('attention_mask');
  const wantTypes = session.inputNames.includes('token_type_ids');
  const outputName = session.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : session.outputNames[0]!;
  const dims = manifest.dims;
  let closed = false;

  async function run(seqs: number[][]): Promise<Float32Array[]> {
    const len = Math.max(...seqs.map((s) => s.length));
    const batch = seqs.length;
    const ids = new BigInt64Array(batch * len);
    const mask = new BigInt64Array(batch * len);
    seqs.forEach((seq, b) => {
      for (let t = 0; t < seq.length; t++) {
        ids[b * len + t] = BigInt(seq[t]!);
        mask[b * len + t] = 1n;
      }
    });
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
    if (out.dims.length !== 3 || out.dims[2] !== dims) {
      out.dispose();
      throw new ConnectorError(
        FailureType.InvalidInput,
        `model output ${outputName} is [${out.dims.join(', ')}], not token embeddings`,
      );
    }
    const hidden = out.data as Float32Array;
    const rows = seqs.map((seq, b) => hidden.slice(b * len * dims, (b * len + seq.length) * dims));
    out.dispose();
    return rows;
  }

  return {
    identity: embedderIdentity({
      provider: 'local-onnx',
      model: manifest.name,
      dims,
      promptVersion: promptVersion(query, document),
    }),
    dims,
    windowTokens,
    documentPrefix,
    async tokenize(text): Promise<TokenizedText> {
      const enc = await tokenizer.encode(text);
      const raw = enc.getOffsets() as [number, number][];
      const special = enc.getSpecialTokensMask();
      const spans = spansToUtf16(
        text,
        raw.map((s, i) => (special[i] === 1 ? null : s)),
        OffsetUnit.CodePoints,
      );
      return { ids: enc.getIds(), spans, special };
    },
    async embedTokens(seqs) {
      if (closed) throw new Error('local late-chunking source is closed');
      const out: Float32Array[] = [];
      // Windows of one document have nearly equal lengths: fill runs up to the padded-token budget in order.
      for (let i = 0; i < seqs.length;) {
        const len = seqs[i]!.length;
        const size = Math.max(1, Math.min(seqs.length - i, Math.floor(cfg.maxBatchTokens / Math.max(1, len))));
        out.push(...(await run(seqs.slice(i, i + size))));
        i += size;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}

/** Late chunking with the local CPU model. */
export async function createLocalLateChunkEmbedder(config: LocalLateConfig): Promise<LateChunkEmbedder> {
  const source = await createLocalTokenSource(config);
  const overlap = config.overlapTokens;
  return createLateChunkEmbedder(source, overlap === undefined ? {} : { overlapTokens: overlap });
}
