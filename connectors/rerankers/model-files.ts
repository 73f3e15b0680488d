import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { num, readJson } from '../embedders/model-files.ts';

/** What the local cross-encoder needs to know about a model folder; written next to the weights as reranker.json. */
export const RerankerManifest = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  /** Hugging Face id the weights come from (provenance; nothing is fetched from it unless asked). */
  hfId: z.string(),
  kind: z.literal('cross-encoder'),
  /** Tokens of the whole pair, special tokens included. */
  maxTokens: z.number().int().positive(),
  /** How the head's logits become a score (see catalog.ts RerankScoring). `none`: the raw first logit. */
  scoring: z.enum(['sigmoid', 'softmax', 'none']),
  /** `softmax` only: the label whose probability is the score. */
  positiveLabel: z.number().int().nonnegative().default(1),
  onnxFile: z.string().default('model.onnx'),
  tokenizerFile: z.string().default('tokenizer.json'),
  /** Relative path -> sha256 (hex) and size of each file in the folder, the manifest excepted. */
  files: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() })),
});
export type RerankerManifest = z.infer<typeof RerankerManifest>;

export const RERANKER_MANIFEST_FILE = 'reranker.json';

/** Where reranker folders live in the cache: `<RAGLINE_CACHE>/models/rerankers/<name>`. */
export function rerankerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.RAGLINE_CACHE || join(homedir(), '.cache', 'ragline');
  return join(cache, 'models', 'rerankers');
}

export async function readRerankerManifest(dir: string): Promise<RerankerManifest> {
  return RerankerManifest.parse(JSON.parse(await readFile(join(dir, RERANKER_MANIFEST_FILE), 'utf8')));
}

/**
 * Reads window and scoring from a Hugging Face cross-encoder folder the way sentence-transformers' CrossEncoder would:
 * the label count from config.json (`id2label` or `num_labels`), an explicit activation from its
 * `sentence_transformers.activation_fn` when saved, else sigmoid for one label and softmax (label 1) for more; the
 * window from tokenizer_config's model_max_length capped by the position table (RoBERTa-family tables carry two
 * padding offsets, so 514 positions hold 512 tokens).
 */
export async function deriveRerankerManifest(
  dir: string,
  opts: { name: string; hfId: string; files: RerankerManifest['files']; onnxFile?: string },
): Promise<RerankerManifest> {
  const config = await readJson(dir, 'config.json');
  if (!config) throw new Error(`${dir}: config.json is missing`);
  const id2label = config.id2label && typeof config.id2label === 'object' ? Object.keys(config.id2label).length : undefined;
  const labels = num(config.num_labels) ?? id2label ?? 1;
  const st = (config.sentence_transformers ?? {}) as { activation_fn?: unknown };
  const act = typeof st.activation_fn === 'string' ? st.activation_fn : '';
  let scoring: RerankerManifest['scoring'] = labels === 1 ? 'sigmoid' : 'softmax';
  if (/Identity$/.test(act)) scoring = 'none';
  else if (/Sigmoid$/.test(act)) scoring = 'sigmoid';
  const roberta = /roberta/i.test(String(config.model_type ?? ''));
  const positions = (num(config.max_position_embeddings) ?? 512) - (roberta ? 2 : 0);
  const tokConfig = await readJson(dir, 'tokenizer_config.json');
  const tokMax = num(tokConfig?.model_max_length);
  const window = tokMax !== undefined && tokMax < 1e6 ? tokMax : positions;
  return RerankerManifest.parse({
    name: opts.name,
    hfId: opts.hfId,
    kind: 'cross-encoder',
    maxTokens: Math.min(window, positions),
    scoring,
    positiveLabel: 1,
    ...(opts.onnxFile ? { onnxFile: opts.onnxFile } : {}),
    files: opts.files,
  });
}
