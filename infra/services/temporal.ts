import { join } from 'node:path';
import { goInstall } from '../install.ts';
import { httpGet, type Service } from '../service.ts';
import { VERSIONS } from '../versions.ts';

/**
 * Custom search attributes the pipeline's workflows set, so an operator can filter runs in the UI
 * (e.g. `Tenant = "acme" AND DocStatus = "failed"`). The SQL visibility store of the dev server allows a few per type.
 */
export const SEARCH_ATTRIBUTES = {
  Tenant: 'Keyword',
  SourceUri: 'Keyword',
  DocStatus: 'Keyword',
  Pipeline: 'Keyword',
} as const;

function binary(cacheDir: string): string {
  return join(cacheDir, 'go-bin', `temporal-${VERSIONS.temporalCli}`, 'temporal');
}

/** The Temporal CLI's dev server: a full Temporal server with the Web UI and a persistent SQLite file. */
export const temporal: Service = {
  name: 'temporal',
  version: VERSIONS.temporalCli,
  after: [],
  startTimeoutMs: 60_000,
  ports: (c) => [c.ports.temporal, c.ports.temporalUi, c.ports.temporalMetrics],
  endpoint: (c) => `127.0.0.1:${c.ports.temporal}`,
  extra: (c) => ({
    ui: `http://127.0.0.1:${c.ports.temporalUi}`,
    namespace: c.temporalNamespace,
    metrics: `http://127.0.0.1:${c.ports.temporalMetrics}/metrics`,
  }),

  async install(ctx) {
    await goInstall({
      cacheDir: ctx.config.cacheDir,
      name: 'temporal',
      module: 'github.com/temporalio/cli/cmd/temporal',
      version: VERSIONS.temporalCli,
      binary: 'temporal',
      log: ctx.log,
    });
  },

  async launch(ctx) {
    const { ports, temporalNamespace } = ctx.config;
    const attrs = Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]);
    return {
      command: binary(ctx.config.cacheDir),
      args: [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(ports.temporal),
        '--ui-port',
        String(ports.temporalUi),
        // Fixed, not the dev server's random port, so its metrics can be found (bench:pipeline counts heartbeats there).
        '--metrics-port',
        String(ports.temporalMetrics),
        '--db-filename',
        join(ctx.dataDir, 'temporal.sqlite'),
        '--namespace',
        temporalNamespace,
        ...attrs,
        '--log-level',
        'warn',
      ],
      env: { TEMPORAL_VERSION_CHECK_DISABLED: '1' },
    };
  },

  async probe(config) {
    // The UI's API proxies to the frontend, so one answer proves the UI, the frontend and our namespace.
    const res = await httpGet(`http://127.0.0.1:${config.ports.temporalUi}/api/v1/namespaces/${config.temporalNamespace}`);
    if (res.status !== 200) return { ok: false, detail: res.status ? `UI answered ${res.status}` : 'no answer' };
    const settings = await httpGet(`http://127.0.0.1:${config.ports.temporalUi}/api/v1/cluster-info`);
    let version: string = VERSIONS.temporalCli;
    try {
      const info = JSON.parse(settings.body) as { serverVersion?: string };
      if (info.serverVersion) version = `cli ${VERSIONS.temporalCli}, server ${info.serverVersion}`;
    } catch {
      // older UIs have no cluster-info route; keep the pinned CLI version
    }
    return { ok: true, version };
  },
};
