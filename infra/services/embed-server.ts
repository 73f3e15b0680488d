import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { StackConfig } from '../config.ts';
import { pythonVenv, pythonVenvDir } from '../install.ts';

// The Python environment our TEI-compatible embedding server runs in on CPU machines (tests, local use): onnxruntime,
// tokenizers, aiohttp, numpy and prometheus-client at the exact pins of embed-server/requirements-cpu.txt. GPU hosts
// run the server from its image instead (embed-server/Dockerfile), with torch; nothing here is used there.

/** The server's source folder: `python -m ragline_embed_server` runs with this as its working directory. */
export const EMBED_SERVER_DIR = resolve(import.meta.dirname, '..', '..', 'embed-server');

/** The pins of the CPU environment, read from the requirements file (comments and blank lines dropped). */
export function embedServerRequirements(file = join(EMBED_SERVER_DIR, 'requirements-cpu.txt')): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l.length > 0);
}

type VenvConfig = Pick<StackConfig, 'cacheDir' | 'python'>;

/** `dev` adds the type checker (requirements-dev.txt): a separate venv, so the server's own stays minimal. */
function requirements(dev: boolean): string[] {
  const cpu = embedServerRequirements();
  return dev ? [...cpu, ...embedServerRequirements(join(EMBED_SERVER_DIR, 'requirements-dev.txt'))] : cpu;
}

/** The venv's interpreter path, whether or not it exists yet. */
export function embedServerPythonPath(config: VenvConfig, opts: { dev?: boolean } = {}): string {
  const dir = pythonVenvDir({ cacheDir: config.cacheDir, python: config.python, requirements: requirements(!!opts.dev) });
  return join(dir, 'bin', 'python');
}

/**
 * Makes (once; cached under the pins' hash like every venv of the stack) the server's CPU venv and returns its
 * Python. Start the server as `<python> -m ragline_embed_server --model-dir DIR ...` with `cwd: EMBED_SERVER_DIR`.
 */
export async function installEmbedServerPython(
  config: VenvConfig,
  log: (line: string) => void = () => {},
  opts: { dev?: boolean } = {},
): Promise<string> {
  const dir = await pythonVenv({
    cacheDir: config.cacheDir,
    python: config.python,
    requirements: requirements(!!opts.dev),
    log,
  });
  return join(dir, 'bin', 'python');
}

export interface EmbedServerProcess {
  url: string;
  pid: number;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts the server on a free local port (`--device cpu`, the onnx backend unless `args` say otherwise) and resolves
 * once `GET /health` answers 200, i.e. the model is loaded and warmed; rejects with the server's output if it exits
 * or is not healthy within `startTimeoutMs`.
 */
export async function startEmbedServer(opts: {
  python: string;
  modelDir: string;
  args?: string[];
  startTimeoutMs?: number;
}): Promise<EmbedServerProcess> {
  const { spawn } = await import('node:child_process');
  const port = await freePort();
  const args = ['-m', 'ragline_embed_server', '--model-dir', opts.modelDir, '--host', '127.0.0.1', '--port', String(port)];
  const child = spawn(opts.python, [...args, ...(opts.args ?? [])], {
    cwd: EMBED_SERVER_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);
  const close = async () => {
    if (gone) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  while (Date.now() < deadline) {
    if (gone) throw new Error(`embed server exited before it was healthy:\n${output}`);
    const ok = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { url, pid: child.pid!, close };
    await new Promise((r) => setTimeout(r, 250));
  }
  await close();
  throw new Error(`embed server was not healthy within ${opts.startTimeoutMs ?? 120_000} ms:\n${output}`);
}
