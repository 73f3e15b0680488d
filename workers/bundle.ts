import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type Logger } from '@temporalio/worker';

const WORKFLOWS_DIR = new URL('../workflows/', import.meta.url).pathname;

const require = createRequire(import.meta.url);

/** The OpenTelemetry workflow interceptors (workflow-tracing.ts), bundled in when workers trace. */
const OTEL_WORKFLOW_INTERCEPTORS = new URL('./workflow-tracing.ts', import.meta.url).pathname;

/**
 * The workflow bundle, built once per change of the workflow sources (or of the SDK) and reused from disk. Bundling
 * with webpack at every worker start costs seconds and a few hundred MB of peak memory. With `tracing`, the bundle
 * also holds the OpenTelemetry workflow interceptors, and is cached under a key of its own; without, it is exactly
 * the bundle of a worker that never traced.
 */
export async function workflowBundlePath(cacheDir: string, opts: { tracing?: boolean; logger?: Logger } = {}): Promise<string> {
  const h = createHash('sha256');
  const sdk = require('@temporalio/workflow/package.json') as { version: string };
  h.update(sdk.version);
  if (opts.tracing) {
    const otel = require('@temporalio/interceptors-opentelemetry/package.json') as { version: string };
    h.update(`\u0000interceptors-opentelemetry@${otel.version}`).update(readFileSync(OTEL_WORKFLOW_INTERCEPTORS));
  }
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
    logger: opts.logger ?? new DefaultLogger('WARN'),
    ...(opts.tracing && { workflowInterceptorModules: [OTEL_WORKFLOW_INTERCEPTORS] }),
  });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, path);
  return path;
}
