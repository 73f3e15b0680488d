import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { stack } from './stack.ts';

/**
 * Where a test keeps what a person should look at afterwards (screenshots): `<data dir>/test-artifacts/<suite>/`, so
 * `.data/test-artifacts/` by default (RAGLINE_DATA moves it). Ignored by git, kept after the run, overwritten by the
 * next one.
 */
export function artifactsDir(suite: string): string {
  const dir = join(stack.dataDir, 'test-artifacts', suite);
  mkdirSync(dir, { recursive: true });
  return dir;
}
