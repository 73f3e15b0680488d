import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, symlink, truncate, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { installedLocalLlm } from '../connectors/chunkers/meta/local-llm-files.ts';
import {
  DEFAULT_MODEL_NAME,
  defaultModelDir,
  installedDefaultModelDir,
  NotInstalledError,
} from '../connectors/embedders/model-files.ts';
import { ensureModel } from '../scripts/fetch-model.ts';

const root = resolve(import.meta.dirname, '..');
// What runs in workers, the trigger, the SDK and the CLI; scripts/, bench/, eval/ and tests may fetch.
const RUNTIME = ['activities', 'cli', 'connectors', 'pipeline', 'sdk', 'workers', 'workflows'];

describe('no installs at run time', () => {
  let cache: string;
  before(async () => {
    cache = await mkdtemp(join(tmpdir(), 'ragline-no-installs-'));
  });
  after(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  test('no runtime module imports the install scripts or runs pip or npm', async () => {
    const offenders: string[] = [];
    for (const dir of RUNTIME) {
      for (const entry of await readdir(join(root, dir), { recursive: true })) {
        if (!entry.endsWith('.ts') || entry.endsWith('.test.ts')) continue;
        const file = join(root, dir, entry);
        const text = await readFile(file, 'utf8');
        const rel = relative(root, file);
        if (/from\s+['"][./]*\/scripts\/|import\(\s*['"][./]*\/scripts\//.test(text)) offenders.push(`${rel}: imports scripts/`);
        if (/\b(execFile|spawn|exec|spawnSync|execFileSync)\s*\(\s*['"](pip3?|npm|npx|python3?)['"]/.test(text))
          offenders.push(`${rel}: runs an installer`);
      }
    }
    assert.deepEqual(offenders, []);
  });

  test('a missing default model is a NotInstalledError naming the bootstrap, not a fetch', async () => {
    const env = { RAGLINE_CACHE: cache };
    await assert.rejects(installedDefaultModelDir(env), (err: unknown) => {
      assert.ok(err instanceof NotInstalledError);
      assert.match(err.message, /npm run bootstrap/);
      assert.match(err.message, new RegExp(DEFAULT_MODEL_NAME));
      return true;
    });
    // Nothing was fetched into the empty cache.
    assert.deepEqual(await readdir(cache), []);
  });

  test('the installed default model is found; a truncated file makes it not installed', async () => {
    const installed = await ensureModel();
    assert.equal(await installedDefaultModelDir(), installed);
    const copy = defaultModelDir({ RAGLINE_CACHE: cache });
    await mkdir(copy, { recursive: true });
    for (const entry of await readdir(installed, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const from = join(entry.parentPath, entry.name);
      const to = join(copy, relative(installed, from));
      await mkdir(resolve(to, '..'), { recursive: true });
      if (entry.name === 'model.onnx') await symlink(from, to);
      else await copyFile(from, to);
    }
    assert.equal(await installedDefaultModelDir({ RAGLINE_CACHE: cache }), copy);
    await truncate(join(copy, 'tokenizer.json'), 10);
    await assert.rejects(installedDefaultModelDir({ RAGLINE_CACHE: cache }), /tokenizer\.json has 10 bytes/);
  });

  test("Meta-Chunking's local model, when missing, names npm run fetch:llm", () => {
    const empty = join(cache, 'llm');
    assert.throws(
      () => installedLocalLlm({ RAGLINE_CACHE: empty }),
      (err: unknown) =>
        err instanceof NotInstalledError && /npm run fetch:llm/.test(err.message) && /node-llama-cpp/.test(err.message),
    );
  });
});
