import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** What the local embedder needs to know about a model folder; written by scripts/fetch-model.ts as model.json. */
export const ModelManifest = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  /** Hugging Face id of the model the weights come from (for provenance; nothing is fetched from it by default). */
  hfId: z.string(),
  dims: z.number().int().positive(),
  maxTokens: z.number().int().positive(),
  pooling: z.enum(['mean', 'cls']),
  normalize: z.boolean(),
  queryPrefix: z.string(),
  documentPrefix: z.string(),
  onnxFile: z.string().default('model.onnx'),
  tokenizerFile: z.string().default('tokenizer.json'),
  /** Relative path -> sha256 (hex) and size of each file in the folder, model.json excepted. */
  files: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() })),
});
export type ModelManifest = z.infer<typeof ModelManifest>;

export const MANIFEST_FILE = 'model.json';

/** The embedded default's folder name under the cache (its files are pinned in scripts/fetch-model.ts). */
export const DEFAULT_MODEL_NAME = 'all-minilm-l6-v2-int8';

export function defaultModelDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.RAGLINE_CACHE || join(homedir(), '.cache', 'ragline');
  return join(cache, 'models', DEFAULT_MODEL_NAME);
}

/**
 * Something the process needs was never installed. Workers and connectors never install anything themselves (no pip
 * or npm at run time): the bootstrap or the image build does, and this error names the command that does it.
 */
export class NotInstalledError extends Error {
  override name = 'NotInstalledError';
}

/**
 * The default model's folder, when the bootstrap installed it: a readable manifest whose files are all present at their
 * recorded sizes (hashes are checked by `node scripts/fetch-model.ts --verify`). Never fetches.
 */
export async function installedDefaultModelDir(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = defaultModelDir(env);
  const fail = (why: string) =>
    new NotInstalledError(
      `the default embedding model is not installed in ${dir} (${why}): run \`npm run bootstrap\` ` +
        '(or `node scripts/fetch-model.ts`) where the worker runs, or at image build time, or set embedder.modelDir',
    );
  let manifest: ModelManifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    throw fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${MANIFEST_FILE}` : (err as Error).message);
  }
  for (const [file, want] of Object.entries(manifest.files)) {
    const size = (await stat(join(dir, file)).catch(() => undefined))?.size;
    if (size !== want.bytes)
      throw fail(size === undefined ? `${file} is missing` : `${file} has ${size} bytes, expected ${want.bytes}`);
  }
  return dir;
}

/** The sentence-transformers files a model folder holds; the first two are required. */
export const MODEL_FILES = [
  'model.onnx',
  'tokenizer.json',
  'config.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'modules.json',
  '1_Pooling/config.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
] as const;

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  const raw = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  return ModelManifest.parse(JSON.parse(raw));
}

/** A JSON file of a model folder, or undefined when it is not there. */
export async function readJson(dir: string, file: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * Reads dims, window, pooling and normalisation from a sentence-transformers folder, the way sentence-transformers
 * itself would: config.json for the width, sentence_bert_config.json for the window (capped by the position table),
 * 1_Pooling for CLS vs mean, and a Normalize module in modules.json for L2 normalisation.
 */
export async function deriveManifest(
  dir: string,
  opts: { name: string; hfId: string; queryPrefix?: string; documentPrefix?: string; files: ModelManifest['files'] },
): Promise<ModelManifest> {
  const config = await readJson(dir, 'config.json');
  if (!config) throw new Error(`${dir}: config.json is missing`);
  const dims = num(config.hidden_size) ?? num(config.dim) ?? num(config.d_model);
  if (!dims) throw new Error(`${dir}: config.json has no hidden_size`);
  const positions = num(config.max_position_embeddings) ?? 512;
  const stConfig = await readJson(dir, 'sentence_bert_config.json');
  const tokConfig = await readJson(dir, 'tokenizer_config.json');
  const tokMax = num(tokConfig?.model_max_length);
  const window = num(stConfig?.max_seq_length) ?? (tokMax !== undefined && tokMax < 1e6 ? tokMax : positions);
  const pool = await readJson(dir, '1_Pooling/config.json');
  const modules = (await readJson(dir, 'modules.json')) as unknown;
  const normalize = Array.isArray(modules) && modules.some((m) => String((m as { type?: unknown }).type).endsWith('.Normalize'));
  return ModelManifest.parse({
    name: opts.name,
    hfId: opts.hfId,
    dims,
    maxTokens: Math.min(window, positions),
    pooling: pool?.pooling_mode_cls_token === true ? 'cls' : 'mean',
    normalize,
    queryPrefix: opts.queryPrefix ?? '',
    documentPrefix: opts.documentPrefix ?? '',
    files: opts.files,
  });
}
