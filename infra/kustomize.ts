import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { StackConfig } from './config.ts';
import { goInstall } from './install.ts';

// kustomize renders the Kubernetes manifests under deploy/k8s (test/deploy/k8s.test.ts renders and validates every
// overlay with it). Built from the Go module proxy like the stack's servers; v5.8.1 builds with this machine's Go
// (GOTOOLCHAIN=local), a cold build in about half a minute.
export const KUSTOMIZE_VERSION = 'v5.8.1';

const run = promisify(execFile);

/** Installs kustomize into the cache once (idempotent: returns at once when it is there) and returns its path. */
export async function installKustomize(
  config: Pick<StackConfig, 'cacheDir'>,
  log: (line: string) => void = () => {},
): Promise<string> {
  return goInstall({
    cacheDir: config.cacheDir,
    name: 'kustomize',
    module: 'sigs.k8s.io/kustomize/kustomize/v5',
    version: KUSTOMIZE_VERSION,
    binary: 'kustomize',
    log,
  });
}

/** `kustomize build DIR`: the rendered multi-document YAML. Throws with kustomize's own message on failure. */
export async function kustomizeBuild(kustomize: string, dir: string): Promise<string> {
  try {
    const { stdout } = await run(kustomize, ['build', dir], { maxBuffer: 32 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`kustomize build ${dir} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}
