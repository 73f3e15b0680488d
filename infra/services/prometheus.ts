import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../config.ts';
import { debInstall, run } from '../install.ts';
import { httpGet, type Service } from '../service.ts';
import { ensureDir } from '../supervisor.ts';
import { DEB_SHA256, VERSIONS } from '../versions.ts';

/** Where the unpacked package lives: `usr/bin/prometheus`, and the classic UI's templates under `usr/share/prometheus`. */
function root(cacheDir: string): string {
  return join(cacheDir, `prometheus-${VERSIONS.prometheus}`, 'root');
}

/**
 * The metrics endpoints scraped without being announced: the ingest and embed workers' default metrics port, the
 * trigger's, and the Temporal SDK's own metrics.
 */
export const STATIC_TARGETS = ['127.0.0.1:9464', '127.0.0.1:9465', '127.0.0.1:9466'] as const;

/**
 * Folder whose `*.json` files (Prometheus file_sd format: `[{"targets":["127.0.0.1:PORT"],"labels":{...}}]`) add
 * scrape targets to the `ragline` job. Prometheus watches it (and rereads it every second) and scrapes a new target
 * about 5s after its file appears, no restart needed.
 */
export function prometheusTargetsDir(config: StackConfig): string {
  return join(config.dataDir, 'prometheus', 'targets');
}

/**
 * The whole config, regenerated on every start (JSON strings are valid YAML, so paths need no escaping of our own).
 * The `temporal` job scrapes the Temporal server's own metrics (task queue latencies, RPCs, heartbeats received): a
 * few thousand series, so every 15 s, not every second.
 */
function configYaml(targetsDir: string, temporalMetricsPort: number): string {
  return `# Written by infra/services/prometheus.ts on every start; edits here are overwritten.
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ragline
    static_configs:
      - targets: ${JSON.stringify(STATIC_TARGETS)}
    file_sd_configs:
      - files: [${JSON.stringify(join(targetsDir, '*.json'))}]
        refresh_interval: 1s
  - job_name: temporal
    scrape_interval: 15s
    static_configs:
      - targets: [${JSON.stringify(`127.0.0.1:${temporalMetricsPort}`)}]
`;
}

/**
 * Prometheus from Debian's package (the Go binary needs only libc); scrapes the workers every second and keeps a day.
 * The Debian build serves the classic web UI, whose JavaScript comes from other Debian packages we leave out: the
 * HTTP API (/api/v1/...) is complete, the UI pages load without their scripts.
 */
export const prometheus: Service = {
  name: 'prometheus',
  version: VERSIONS.prometheus,
  after: [],
  startTimeoutMs: 30_000,
  ports: (c) => [c.ports.prometheus],
  endpoint: (c) => `http://127.0.0.1:${c.ports.prometheus}`,
  extra: (c) => ({ targets: prometheusTargetsDir(c) }),

  async install(ctx) {
    await debInstall({
      cacheDir: ctx.config.cacheDir,
      name: 'prometheus',
      pkg: 'prometheus',
      version: VERSIONS.prometheus,
      arch: 'amd64',
      sha256: DEB_SHA256.prometheus,
      // An install is complete only once its binary runs here.
      prepare: (dir, logFile) => run('check prometheus', join(dir, 'usr', 'bin', 'prometheus'), ['--version'], { logFile }),
      log: ctx.log,
    });
  },

  async launch(ctx) {
    const dir = root(ctx.config.cacheDir);
    const targets = ensureDir(prometheusTargetsDir(ctx.config));
    const configFile = join(ctx.dataDir, 'prometheus.yml');
    writeFileSync(configFile, configYaml(targets, ctx.config.ports.temporalMetrics));
    return {
      command: join(dir, 'usr', 'bin', 'prometheus'),
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(ctx.dataDir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${ctx.config.ports.prometheus}`,
        '--storage.tsdb.retention.time=1d',
        // Discovery hands on new targets at most every 5s (fixed); this hidden flag keeps the scrapers from adding another
        // 5s of their own, so a new targets file is scraped about 5s after it appears.
        '--scrape.discovery-reload-interval=1s',
        // Debian's defaults point at /usr/share and /etc; use the unpacked copies instead.
        `--web.local-assets=${join(dir, 'usr', 'share', 'prometheus', 'web')}`,
        `--web.console.templates=${join(dir, 'etc', 'prometheus', 'consoles')}`,
        `--web.console.libraries=${join(dir, 'etc', 'prometheus', 'console_libraries')}`,
        '--log.level=warn',
      ],
    };
  },

  async probe(config) {
    const base = `http://127.0.0.1:${config.ports.prometheus}`;
    const ready = await httpGet(`${base}/-/ready`);
    if (ready.status !== 200) return { ok: false, detail: ready.status ? `ready answered ${ready.status}` : 'no answer' };
    const info = await httpGet(`${base}/api/v1/status/buildinfo`);
    try {
      const version = (JSON.parse(info.body) as { data?: { version?: string } }).data?.version;
      return { ok: true, version: version ?? VERSIONS.prometheus };
    } catch {
      return { ok: true, version: VERSIONS.prometheus };
    }
  },
};
