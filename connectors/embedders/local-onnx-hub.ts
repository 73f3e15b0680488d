import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { deriveManifest, MANIFEST_FILE, type ModelManifest, sha256File } from './model-files.ts';

// [path in the hub repo, path in the model folder, required]
const HUB_FILES: [string, string, boolean][] = [
  ['onnx/model.onnx', 'model.onnx', true],
  ['tokenizer.json', 'tokenizer.json', true],
  ['config.json', 'config.json', true],
  ['tokenizer_config.json', 'tokenizer_config.json', false],
  ['special_tokens_map.json', 'special_tokens_map.json', false],
  ['modules.json', 'modules.json', false],
  ['1_Pooling/config.json', '1_Pooling/config.json', false],
  ['sentence_bert_config.json', 'sentence_bert_config.json', false],
];

// Asymmetric models whose query side needs an instruction; everything else is embedded as is.
const QUERY_PREFIXES: [RegExp, string][] = [
  [/\/bge-(small|base|large)-en/i, 'Represent this sentence for searching relevant passages: '],
];

/** Files as the manifests record them: sha256 and size by path in the model folder. */
type HubFileHashes = Record<string, { sha256: string; bytes: number }>;

/**
 * Downloads `files` ([path in the hub repo, path in the model folder, required]) of a hub model into a staging folder,
 * lets `manifest` describe what came (it writes the manifest file), then moves the folder to `dir` in one rename.
 * Trust on first use: the hashes recorded are those of what was downloaded.
 */
export async function downloadHubModel<M>(
  hubModelId: string,
  dir: string,
  hubFiles: [string, string, boolean][],
  manifest: (staging: string, name: string, files: HubFileHashes) => Promise<M>,
): Promise<M> {
  const staging = `${dir}.tmp-${process.pid}-${Date.now()}`;
  const files: HubFileHashes = {};
  try {
    for (const [remote, local, required] of hubFiles) {
      const url = `https://huggingface.co/${hubModelId}/resolve/main/${remote}`;
      let res: Response;
      try {
        res = await fetch(url);
      } catch (err) {
        throw new ConnectorError(FailureType.Unavailable, `cannot reach ${url}`, { cause: err });
      }
      if (res.status === 404 && !required) continue;
      if (!res.ok || !res.body) {
        const type = res.status === 404 ? FailureType.NotFound : FailureType.Unavailable;
        throw new ConnectorError(type, `GET ${url}: HTTP ${res.status}`);
      }
      const path = join(staging, local);
      await mkdir(dirname(path), { recursive: true });
      await pipeline(Readable.fromWeb(res.body as ReadableStream<Uint8Array>), createWriteStream(path));
      files[local] = { sha256: await sha256File(path), bytes: (await stat(path)).size };
    }
    const made = await manifest(staging, hubModelId.toLowerCase().replace(/[^a-z0-9._-]+/g, '--'), files);
    await mkdir(dirname(dir), { recursive: true });
    await rename(staging, dir);
    return made;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Downloads a sentence-transformers model with an ONNX export from the Hugging Face hub into `dir` (for users who can
 * reach it; our machines cannot, so this path is opt-in and untested here).
 */
export function downloadFromHub(hubModelId: string, dir: string): Promise<ModelManifest> {
  return downloadHubModel(hubModelId, dir, HUB_FILES, async (staging, name, files) => {
    const queryPrefix = QUERY_PREFIXES.find(([re]) => re.test(hubModelId))?.[1] ?? '';
    const manifest = await deriveManifest(staging, { name, hfId: hubModelId, queryPrefix, files });
    await writeFile(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  });
}
