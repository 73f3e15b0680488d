import { join } from 'node:path';
import { goInstall } from '../install.ts';
import { httpGet, type Service } from '../service.ts';
import { VERSIONS } from '../versions.ts';

function binary(cacheDir: string): string {
  return join(cacheDir, 'go-bin', `weaviate-${VERSIONS.weaviate}`, 'weaviate-server');
}

// Cluster-internal ports of a single node; fixed so a port clash is caught before start.
const GOSSIP_PORT = 7946;
const DATA_PORT = 7947;
const RAFT_PORT = 8300;
const RAFT_RPC_PORT = 8301;

/** Weaviate as a single node, anonymous access, no vectorizer modules (we bring our own vectors). */
export const weaviate: Service = {
  name: 'weaviate',
  version: VERSIONS.weaviate,
  after: [],
  startTimeoutMs: 90_000,
  ports: (c) => [c.ports.weaviate, c.ports.weaviateGrpc, GOSSIP_PORT, DATA_PORT, RAFT_PORT, RAFT_RPC_PORT],
  endpoint: (c) => `http://127.0.0.1:${c.ports.weaviate}`,
  extra: (c) => ({ grpc: `127.0.0.1:${c.ports.weaviateGrpc}` }),

  async install(ctx) {
    await goInstall({
      cacheDir: ctx.config.cacheDir,
      name: 'weaviate',
      module: 'github.com/weaviate/weaviate/cmd/weaviate-server',
      version: VERSIONS.weaviate,
      binary: 'weaviate-server',
      env: { CGO_ENABLED: '0' },
      log: ctx.log,
    });
  },

  async launch(ctx) {
    const { ports } = ctx.config;
    return {
      command: binary(ctx.config.cacheDir),
      args: ['--scheme', 'http', '--host', '127.0.0.1', '--port', String(ports.weaviate)],
      env: {
        PERSISTENCE_DATA_PATH: ctx.dataDir,
        AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED: 'true',
        DEFAULT_VECTORIZER_MODULE: 'none',
        ENABLE_MODULES: '',
        DISABLE_TELEMETRY: 'true',
        CLUSTER_HOSTNAME: 'node1',
        CLUSTER_IN_LOCALHOST: 'true',
        CLUSTER_GOSSIP_BIND_PORT: String(GOSSIP_PORT),
        CLUSTER_DATA_BIND_PORT: String(DATA_PORT),
        RAFT_PORT: String(RAFT_PORT),
        RAFT_INTERNAL_RPC_PORT: String(RAFT_RPC_PORT),
        RAFT_BOOTSTRAP_EXPECT: '1',
        GRPC_PORT: String(ports.weaviateGrpc),
        LOG_LEVEL: 'warning',
        QUERY_DEFAULTS_LIMIT: '25',
      },
    };
  },

  async probe(config) {
    const base = `http://127.0.0.1:${config.ports.weaviate}`;
    const ready = await httpGet(`${base}/v1/.well-known/ready`);
    if (ready.status !== 200) return { ok: false, detail: ready.status ? `ready answered ${ready.status}` : 'no answer' };
    const meta = await httpGet(`${base}/v1/meta`);
    try {
      return { ok: true, version: (JSON.parse(meta.body) as { version: string }).version };
    } catch {
      return { ok: true, version: VERSIONS.weaviate };
    }
  },
};
