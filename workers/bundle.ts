import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

const WORKFLOWS_DIR = new URL('../workflows/', import.meta.url).pathname;

/**
 * The workflow bundle, built once per change of the workflow sources (or of the SDK) and reused from disk. Bundling
 * with webpack at every worker start costs seconds and a few hundred MB of peak memory.
 */
export async function workflowBundlePath(cacheDir: string): Promise<string> {
  const h = createHash('sha256');
  const sdk = createRequire(import.meta.url)('@temporalio/workflow/package.json') as { version: string };
  h.update(sdk.version);
  for (const f of readdirSync(WORKFLOWS_DIR)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    h.update(f).update(readFileSync(join(WORKFLOWS_DIR, f)));
  }
  const dir = join(cacheDir, 'workflow-bundles');
  const path = join(dir, `${h.digest('hex').slice(0, 16)}.js`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(WORKFLOWS_DIR, 'index.ts'),
    logger: new DefaultLogger('WARN'),
  });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, path);
  return path;
}
