import { join } from 'node:path';
import type { StackConfig } from '../config.ts';
import { pythonVenv, pythonVenvDir } from '../install.ts';
import { httpGet, type Service, type ServiceContext } from '../service.ts';
import { VERSIONS } from '../versions.ts';

/** Milvus Lite and Chroma share one venv; the pins decide its folder (see pythonVenv). */
const REQUIREMENTS = [`milvus-lite==${VERSIONS.milvusLite}`, `pymilvus==${VERSIONS.pymilvus}`, `chromadb==${VERSIONS.chroma}`];

/** The Python of the Milvus Lite and Chroma venv: it has both servers' own Python clients (pymilvus, chromadb). */
export function serversPython(config: StackConfig): string {
  return join(pythonVenvDir({ cacheDir: config.cacheDir, python: config.python, requirements: REQUIREMENTS }), 'bin', 'python');
}

function venv(ctx: ServiceContext): Promise<string> {
  return pythonVenv({ cacheDir: ctx.config.cacheDir, python: ctx.config.python, requirements: REQUIREMENTS, log: ctx.log });
}

/** Milvus Lite's gRPC server: the Milvus API on one process. No auth, no LoadPartitions; serialize writers. */
export const milvus: Service = {
  name: 'milvus',
  version: VERSIONS.milvusLite,
  after: [],
  startTimeoutMs: 180_000,
  ports: (c) => [c.ports.milvus],
  endpoint: (c) => `127.0.0.1:${c.ports.milvus}`,
  async install(ctx) {
    await venv(ctx);
  },
  async launch(ctx) {
    const dir = await venv(ctx);
    return {
      command: join(dir, 'bin', 'milvus-lite'),
      args: ['server', '--data-dir', ctx.dataDir, '--host', '127.0.0.1', '--port', String(ctx.config.ports.milvus)],
    };
  },
  async probe(config) {
    // Loaded on demand: the SDK is large, and most commands that load the stack never probe Milvus.
    const { MilvusClient } = await import('@zilliz/milvus2-sdk-node');
    const client = new MilvusClient({ address: `127.0.0.1:${config.ports.milvus}`, timeout: 2000 });
    try {
      const health = await client.checkHealth();
      if (!health.isHealthy) return { ok: false, detail: health.reasons.join('; ') || 'unhealthy' };
      const { version } = await client.getVersion();
      return { ok: true, version };
    } catch (err) {
      return { ok: false, detail: (err as Error).message.split('\n')[0] };
    } finally {
      await client.closeConnection().catch(() => undefined);
    }
  },
};

/** Chroma's server (the Rust server inside the PyPI package), persisting to the data dir. */
export const chroma: Service = {
  name: 'chroma',
  version: VERSIONS.chroma,
  after: [],
  startTimeoutMs: 180_000,
  ports: (c) => [c.ports.chroma],
  endpoint: (c) => `http://127.0.0.1:${c.ports.chroma}`,
  async install(ctx) {
    await venv(ctx);
  },
  async launch(ctx) {
    const dir = await venv(ctx);
    return {
      command: join(dir, 'bin', 'chroma'),
      args: ['run', '--path', ctx.dataDir, '--host', '127.0.0.1', '--port', String(ctx.config.ports.chroma)],
      env: { ANONYMIZED_TELEMETRY: 'False' },
    };
  },
  async probe(config) {
    const base = `http://127.0.0.1:${config.ports.chroma}`;
    const hb = await httpGet(`${base}/api/v2/heartbeat`);
    if (hb.status !== 200) return { ok: false, detail: hb.status ? `heartbeat answered ${hb.status}` : 'no answer' };
    // /api/v2/version reports the API version, not the package's; name both.
    const ver = await httpGet(`${base}/api/v2/version`);
    const api = ver.body.replace(/"/g, '').trim();
    return { ok: true, version: api ? `${VERSIONS.chroma} (api ${api})` : VERSIONS.chroma };
  },
};
