import { Counter, Gauge } from 'prom-client';
import { probePoolServer } from '../connectors/embedders/pool.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { log } from '../connectors/shared/log.ts';
import { registry } from '../connectors/shared/metrics.ts';

// Health-aware polling for a pool embed worker: a Temporal Worker that polls the embed queue only while the embedding
// server beside it answers `/health`. A worker whose server is gone would take embed tasks only to fail them (or, with
// a frozen server, hold them until their heartbeat timeout), so after `failuresToPause` failed probes in a row the
// supervisor shuts the Worker down (it stops polling; activities it holds end, and Temporal retries those that fail
// on another worker) and, once a probe passes again, creates a new Worker and polls again. A Worker cannot restart
// after shutdown, hence a new one each time. The requests the held activities have in flight to the server are
// abandoned at the pause (`serverLost`): a frozen server would otherwise hold them until the client's timeout, past the
// Worker's grace time, and its activities would wait that long to be retried elsewhere. A drain on SIGTERM, with the
// server healthy, abandons nothing: the held activities finish within the grace time.

const serverUp = new Gauge({
  name: 'ragline_embed_server_up',
  help: "1 while the embed worker's server answers /health, 0 after failed probes",
  labelNames: ['pipeline', 'server'] as const,
  registers: [registry],
});
const polling = new Gauge({
  name: 'ragline_embed_worker_polling',
  help: '1 while the embed worker polls its task queue, 0 while it is paused for its server',
  labelNames: ['pipeline', 'server'] as const,
  registers: [registry],
});
const pauses = new Counter({
  name: 'ragline_embed_worker_pauses_total',
  help: 'Times the embed worker stopped polling because its server failed its health probes',
  labelNames: ['pipeline', 'server'] as const,
  registers: [registry],
});

/** What the supervisor needs of a Temporal Worker (`@temporalio/worker`'s Worker has it). */
export interface PollingWorker {
  run(): Promise<void>;
  shutdown(): void;
  getState(): string;
}

export interface EmbedSupervisorOptions {
  /** The server's root URL; `/health` is probed. */
  server: string;
  /** A fresh Worker on the embed task queue (called at start and after each pause). */
  createWorker(): Promise<PollingWorker>;
  /** The `pipeline` label of the metrics (pipelineLabel). */
  pipeline: string;
  /** Between probes. Default 2000 ms. */
  probeIntervalMs?: number;
  /** A probe slower than this fails. Default 1000 ms. */
  probeTimeoutMs?: number;
  /** Failed probes in a row that pause polling. Default 2. */
  failuresToPause?: number;
  /** Also stop gracefully on these signals (the Temporal Runtime stops a polling Worker on them too). Default SIGINT, SIGTERM. */
  signals?: NodeJS.Signals[];
}

export type SupervisorState = 'polling' | 'paused' | 'stopped';

export interface EmbedSupervisor {
  state(): SupervisorState;
  /** Pauses so far (server unhealthy). */
  pauses(): number;
  /**
   * Aborted when a pause begins, with a retryable ConnectorError naming the server; a fresh one once polling starts
   * again. Embed calls listen to it (PipelineDeps.serverLost).
   */
  serverLost(): AbortSignal;
  /** Resolves once stopped (shutdown, a signal, or the Worker ending on its own); rejects if the Worker failed. */
  done: Promise<void>;
  /** Stops polling, lets the held activities finish, resolves once the Worker has stopped. */
  shutdown(): Promise<void>;
}

/**
 * Starts polling at once (the caller has just checked the server) and supervises from there. A Worker that ends by
 * itself (the Runtime's signal handling, a fatal error) ends the supervision: only a pause brings a new Worker.
 */
export function superviseEmbedWorker(opts: EmbedSupervisorOptions): EmbedSupervisor {
  const labels = { pipeline: opts.pipeline, server: opts.server };
  const interval = opts.probeIntervalMs ?? 2000;
  const timeout = opts.probeTimeoutMs ?? 1000;
  const threshold = opts.failuresToPause ?? 2;
  const logger = log().child({ pipeline: opts.pipeline, embedServer: opts.server });
  let state: SupervisorState = 'paused';
  let paused = 0;
  let failures = 0;
  let healthy = true;
  let stopping = false;
  let lost = new AbortController();
  // Wakes the main loop: on a health change and on shutdown.
  let wake: () => void = () => {};
  const changed = () => new Promise<void>((r) => (wake = r));
  let next = changed();
  const notify = () => {
    const w = wake;
    next = changed();
    w();
  };

  serverUp.set(labels, 1);
  polling.set(labels, 0);
  pauses.inc(labels, 0);

  let timer: NodeJS.Timeout | undefined;
  const probe = async (): Promise<void> => {
    const ok = await probePoolServer(opts.server, timeout);
    if (stopping) return;
    failures = ok ? 0 : failures + 1;
    const nowHealthy = ok || (healthy && failures < threshold);
    serverUp.set(labels, nowHealthy ? 1 : 0);
    if (nowHealthy !== healthy) {
      healthy = nowHealthy;
      notify();
    }
    timer = setTimeout(() => void probe(), interval);
  };
  timer = setTimeout(() => void probe(), interval);

  const onSignal = () => void shutdown();
  const signals = opts.signals ?? ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, onSignal);

  async function main(): Promise<void> {
    while (!stopping) {
      if (!healthy) {
        await next;
        continue;
      }
      if (lost.signal.aborted) lost = new AbortController();
      const worker = await opts.createWorker();
      const run = worker.run();
      let ended = false;
      const runEnded = run.then(
        () => void (ended = true),
        () => void (ended = true),
      );
      state = 'polling';
      polling.set(labels, 1);
      if (paused > 0) logger.info('embed worker polls again: its server answers /health');
      while (!ended && healthy && !stopping) await Promise.race([runEnded, next]);
      polling.set(labels, 0);
      if (ended && healthy && !stopping) {
        // Stopped by something else (the Runtime on a signal, or a failure): supervision ends with it.
        stopping = true;
        await run;
        break;
      }
      if (!stopping) {
        lost.abort(
          new ConnectorError(
            FailureType.Unavailable,
            `embed server ${opts.server} failed ${failures} health probes in a row: request abandoned, to be retried on another worker`,
          ),
        );
      }
      if (worker.getState() === 'RUNNING') worker.shutdown();
      if (!stopping) {
        state = 'paused';
        paused++;
        pauses.inc(labels);
        logger.warn(
          { failedProbes: failures },
          'embed worker stopped polling: its server fails /health (its requests in flight are abandoned; Temporal retries their activities elsewhere)',
        );
      }
      // The next Worker starts only once this one has let go of its activities.
      await run.catch((err: unknown) => logger.warn({ err }, 'embed worker ended with an error while stopping'));
    }
  }

  const done = main().finally(() => {
    stopping = true;
    state = 'stopped';
    polling.set(labels, 0);
    clearTimeout(timer);
    for (const s of signals) process.off(s, onSignal);
  });

  async function shutdown(): Promise<void> {
    if (!stopping) {
      stopping = true;
      notify();
    }
    await done.catch(() => undefined);
  }

  return { state: () => state, pauses: () => paused, serverLost: () => lost.signal, done, shutdown };
}
