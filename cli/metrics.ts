import { log } from '../connectors/shared/log.ts';
import { serveMetrics, type MetricsServer } from '../connectors/shared/metrics.ts';

/** Default metrics ports: `ingest worker`, `ingest trigger`, and the Temporal SDK's own exporter (opt-in). */
export const METRICS_PORTS = { worker: 9464, trigger: 9465, sdk: 9466 } as const;

/**
 * A port option as given (`--metrics-port`, else RAGLINE_METRICS_PORT, else `fallback`): a number (0 picks a free
 * port), or `off`. Anything else is refused before the process starts its work.
 */
export function metricsPort(given: string | undefined, fallback: number | 'off'): number | 'off' {
  const text = given ?? process.env.RAGLINE_METRICS_PORT;
  if (text === undefined || text === '') return fallback;
  if (text === 'off') return 'off';
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`metrics port '${text}' is not a port number or 'off'`);
  return n;
}

/**
 * Serves this process's metrics on /metrics. A port already taken (another worker on the same host) is a warning,
 * not a failure: the worker's work matters more than its metrics.
 */
export async function startMetricsEndpoint(port: number | 'off', what: string): Promise<MetricsServer | undefined> {
  if (port === 'off') return undefined;
  try {
    const server = await serveMetrics(port);
    log().info({ port: server.port }, `${what} metrics on http://0.0.0.0:${server.port}/metrics`);
    return server;
  } catch (err) {
    log().warn({ port, err }, `${what} metrics not served: port ${port} is unavailable`);
    return undefined;
  }
}
