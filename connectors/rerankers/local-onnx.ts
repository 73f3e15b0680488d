import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { type Encoding, Tokenizer } from 'tokenizers';
import { z } from 'zod';
import { LocalOnnxRuntimeFields, onnxSessionOptions, planBatches } from '../embedders/local-onnx.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { headScore } from './catalog.ts';
import { downloadRerankerFromHub } from './local-onnx-hub.ts';
import { readRerankerManifest, type RerankerManifest } from './model-files.ts';
import { checkRerankInput, finishResults, type Reranker, type RerankResult } from './reranker.ts';

// A cross-encoder on the CPU with onnxruntime (the runtime the local embedder uses): each (query, passage) pair is
// tokenised as one sequence by the model's own tokenizer and template, pairs are packed into padded batches, and the
// classification head's logits become the score the model's manifest names (sigmoid for one-label models).
// Truncation cuts the passage, never the query: a query keeps up to half the window, the passage gets the rest.

export const LocalOnnxRerankConfig = z.object({
  /** Folder with reranker.json, the ONNX file and tokenizer.json. */
  modelDir: z.string().min(1),
  ...LocalOnnxRuntimeFields,
  /** Padded tokens per onnxruntime run (pairs x longest pair): bounds memory and padding waste. */
  maxBatchTokens: z.number().int().positive().default(4096),
  /** A smaller window than the model's (faster, less context); never a larger one. */
  maxTokens: z.number().int().min(8).optional(),
});
export type LocalOnnxRerankConfig = z.input<typeof LocalOnnxRerankConfig>;

const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);

async function loadManifest(cfg: z.output<typeof LocalOnnxRerankConfig>): Promise<RerankerManifest> {
  try {
    return await readRerankerManifest(cfg.modelDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConnectorError(FailureType.InvalidInput, `${cfg.modelDir}/reranker.json is not a valid reranker manifest`, {
        cause: err,
      });
    }
    if (cfg.hubModelId && cfg.allowRemote) return downloadRerankerFromHub(cfg.hubModelId, cfg.modelDir);
    throw new ConnectorError(
      FailureType.NotFound,
      `no cross-encoder in ${cfg.modelDir} (no reranker.json): install a model folder there, or set hubModelId with allowRemote`,
      { cause: err },
    );
  }
}

/** One tokenised pair: ids and segment ids of the model's pair template, and whether the passage was cut. */
export interface EncodedPair {
  ids: number[];
  typeIds: number[];
  truncated: boolean;
}

/**
 * Tokenises (query, passage) pairs within `maxTokens` with the tokenizer's own pair template (BERT's
 * `[CLS] q [SEP] p [SEP]` with segment ids, XLM-R's `<s> q </s></s> p </s>`): the query keeps at most half of the
 * room left after the template's special tokens, and the passage is cut from the end to fit what remains.
 */
export async function createPairEncoder(
  tokenizerPath: string,
  maxTokens: number,
): Promise<{ encode(query: string, passages: readonly string[]): Promise<EncodedPair[]>; tokenizer: Tokenizer }> {
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  tokenizer.disableTruncation();
  tokenizer.disablePadding();
  const noSpecials = { addSpecialTokens: false };
  const empty = await tokenizer.encode('', null, noSpecials);
  const specials = tokenizer.postProcess(empty, await tokenizer.encode('', null, noSpecials), true).getLength();
  const room = maxTokens - specials;
  if (room < 2) throw new ConnectorError(FailureType.InvalidInput, `a window of ${maxTokens} tokens leaves no room for a pair`);
  return {
    tokenizer,
    async encode(query, passages) {
      // The binding's Encoding.truncate cuts from the left unless told otherwise: keep the start of each text.
      const q: Encoding = await tokenizer.encode(query, null, noSpecials);
      if (q.getLength() > Math.floor(room / 2)) q.truncate(Math.floor(room / 2), 0, 'right');
      const budget = room - q.getLength();
      const docs = await tokenizer.encodeBatch([...passages], noSpecials);
      return docs.map((d) => {
        const truncated = d.getLength() > budget;
        if (truncated) d.truncate(budget, 0, 'right');
        const pair = tokenizer.postProcess(q, d, true);
        return { ids: pair.getIds(), typeIds: pair.getTypeIds(), truncated };
      });
    },
  };
}

/** One onnxruntime session over a cross-encoder's graph: padded pair batches in, one row of logits per pair out. */
export interface PairRunner {
  readonly inputNames: readonly string[];
  /** Logits per pair (`[labels]`), for pairs padded to `len`. */
  run(pairs: readonly EncodedPair[], len: number): Promise<Float32Array[]>;
  release(): Promise<void>;
}

export async function createPairRunner(
  onnxPath: string,
  opts: { threads: number; spin: boolean },
  acceptOutput: (dims: readonly number[]) => void = () => {},
): Promise<PairRunner> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(
    onnxPath,
    onnxSessionOptions({ modelDir: '', allowRemote: false, maxBatchTokens: 1, ...opts }),
  );
  const unknown = session.inputNames.filter((n) => !KNOWN_INPUTS.has(n));
  if (unknown.length > 0 || !session.inputNames.includes('input_ids')) {
    await session.release();
    throw new ConnectorError(FailureType.InvalidInput, `unsupported model inputs: ${session.inputNames.join(', ')}`);
  }
  const wantMask = session.inputNames.includes('attention_mask');
  const wantTypes = session.inputNames.includes('token_type_ids');
  const outputName = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!;
  return {
    inputNames: session.inputNames,
    async run(pairs, len) {
      const batch = pairs.length;
      const ids = new BigInt64Array(batch * len);
      const mask = new BigInt64Array(batch * len);
      const types = new BigInt64Array(batch * len);
      for (let b = 0; b < batch; b++) {
        const p = pairs[b]!;
        for (let t = 0; t < p.ids.length; t++) {
          ids[b * len + t] = BigInt(p.ids[t]!);
          mask[b * len + t] = 1n;
          types[b * len + t] = BigInt(p.typeIds[t]!);
        }
      }
      const shape = [batch, len];
      const feeds: Record<string, Ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, shape) };
      if (wantMask) feeds.attention_mask = new ort.Tensor('int64', mask, shape);
      if (wantTypes) feeds.token_type_ids = new ort.Tensor('int64', types, shape);
      let out: Ort.Tensor;
      try {
        out = (await session.run(feeds, [outputName]))[outputName]!;
      } catch (err) {
        throw new ConnectorError(FailureType.Unavailable, `onnxruntime run failed: ${(err as Error).message}`, { cause: err });
      }
      acceptOutput(out.dims);
      const data = out.data as Float32Array;
      const width = data.length / batch;
      const rows = Array.from({ length: batch }, (_, b) => data.slice(b * width, (b + 1) * width));
      out.dispose();
      return rows;
    },
    release: () => session.release(),
  };
}

export interface LocalOnnxReranker extends Reranker {
  /** Pairs whose passage was cut to fit the window, since the reranker was created. */
  readonly stats: { pairs: number; truncated: number; runs: number };
}

/** A cross-encoder from a model folder (see model-files.ts), scored on the CPU. */
export async function createLocalOnnxReranker(config: LocalOnnxRerankConfig): Promise<LocalOnnxReranker> {
  const cfg = LocalOnnxRerankConfig.parse(config);
  const manifest = await loadManifest(cfg);
  const maxTokens = Math.min(cfg.maxTokens ?? manifest.maxTokens, manifest.maxTokens);
  const encoder = await createPairEncoder(join(cfg.modelDir, manifest.tokenizerFile), maxTokens);
  const runner = await createPairRunner(join(cfg.modelDir, manifest.onnxFile), cfg, (dims) => {
    // A cross-encoder's head gives [batch, labels]; an encoder without one gives [batch, len, hidden].
    if (dims.length !== 2) {
      throw new ConnectorError(
        FailureType.InvalidInput,
        `${manifest.name} is not a cross-encoder: its output has shape [${dims.join(', ')}], expected [batch, labels]`,
      );
    }
  });
  const scoring =
    manifest.scoring === 'softmax'
      ? { type: 'softmax' as const, positiveLabel: manifest.positiveLabel }
      : { type: 'sigmoid' as const };
  const stats = { pairs: 0, truncated: 0, runs: 0 };
  let closed = false;

  return {
    identity: `local-onnx:${manifest.name}:${maxTokens}`,
    provider: 'local-onnx',
    model: manifest.name,
    scoreKind: manifest.scoring === 'none' ? 'logit' : 'probability',
    maxTokens,
    stats,
    async rerank(query, documents, opts = {}) {
      if (closed) throw new Error('local-onnx reranker is closed');
      checkRerankInput(query, documents, opts);
      if (documents.length === 0) return [];
      const pairs = await encoder.encode(query, documents);
      const results: RerankResult[] = [];
      for (const { members, len } of planBatches(
        pairs.map((p) => p.ids.length),
        cfg.maxBatchTokens,
      )) {
        opts.signal?.throwIfAborted();
        const rows = await runner.run(
          members.map((i) => pairs[i]!),
          len,
        );
        stats.runs++;
        members.forEach((i, k) => {
          const row = rows[k]!;
          results.push({ index: i, score: manifest.scoring === 'none' ? row[0]! : headScore(scoring, row) });
        });
      }
      stats.pairs += pairs.length;
      stats.truncated += pairs.filter((p) => p.truncated).length;
      return finishResults('local-onnx', results, documents.length, opts.topN);
    },
    async close() {
      if (closed) return;
      closed = true;
      await runner.release();
    },
  };
}
