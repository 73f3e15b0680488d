import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadHubModel } from '../embedders/local-onnx-hub.ts';
import { deriveRerankerManifest, RERANKER_MANIFEST_FILE, type RerankerManifest } from './model-files.ts';

// [path in the hub repo, path in the model folder, required]. cross-encoder/ms-marco-*, BAAI/bge-reranker-* and
// jinaai/jina-reranker-v1-* publish their ONNX export as onnx/model.onnx.
const HUB_FILES: [string, string, boolean][] = [
  ['onnx/model.onnx', 'model.onnx', true],
  ['tokenizer.json', 'tokenizer.json', true],
  ['config.json', 'config.json', true],
  ['tokenizer_config.json', 'tokenizer_config.json', false],
  ['special_tokens_map.json', 'special_tokens_map.json', false],
];

/**
 * Downloads a cross-encoder's ONNX export from the Hugging Face hub into `dir`, for users who can reach it (our
 * machines cannot: this path is opt-in and untested here).
 */
export function downloadRerankerFromHub(hubModelId: string, dir: string): Promise<RerankerManifest> {
  return downloadHubModel(hubModelId, dir, HUB_FILES, async (staging, name, files) => {
    const manifest = await deriveRerankerManifest(staging, { name, hfId: hubModelId, files });
    await writeFile(join(staging, RERANKER_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  });
}
