#!/usr/bin/env node
// The `ingest` command: run pipelines, inspect documents, search, run workers, manage the local stack.
import { WorkflowFailedError } from '@temporalio/client';
import { Command, Option } from 'commander';
import { StackConfigError } from '../infra/config.ts';
import { StackUpError } from '../infra/stack.ts';
import { PipelineSpecError } from '../pipeline/spec.ts';
import { EmbedChildError } from '../workers/embed-child.ts';
import { configureLogging, log, LOG_LEVELS, LogLevelError, logLevelOf, rememberEnvSecrets } from '../connectors/shared/log.ts';
import { rememberSecret } from '../connectors/shared/secret.ts';
import type { Tracing } from '../connectors/shared/tracing.ts';
import type { WorkerOptions } from '../workers/worker.ts';
import type { CodecServerCommandOptions } from './commands/codec-server.ts';
import { cliContext, normaliseSourceUri, type CliContext } from './context.ts';

// Commands load their modules when they run: a long-running `ingest worker` should not carry the CLI's other
// dependencies (and their memory) around.
const infraMain = async (argv: string[]) => (await import('../infra/cli.ts')).main(argv);
const startWorkers = async (o: WorkerOptions) => (await import('../workers/worker.ts')).startWorkers(o);

const program = new Command('ingest')
  .description('ragline: durable document ingestion for semantic search and RAG')
  .addOption(new Option('--pipeline <file>', 'pipeline spec (YAML or JSON); default: the embedded default pipeline'))
  .addOption(new Option('--tenant <tenant>', 'tenant (overrides the spec)'))
  .addOption(
    new Option(
      '--log-level <level>',
      `JSON log lines on stderr from this level up: ${LOG_LEVELS.join(', ')} (default: RAGLINE_LOG_LEVEL, else info for worker and trigger, error otherwise)`,
    ),
  );

/** This process's tracing, when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT turns it on (see `preAction`). */
let tracing: Tracing | undefined;

const ctx = (): CliContext => {
  const c = cliContext(program.opts<{ pipeline?: string; tenant?: string }>());
  // The local stack's S3 key is not in the environment; it is no more loggable than one that is.
  if (c.s3.secretAccessKey) rememberSecret(c.s3.secretAccessKey);
  return tracing ? { ...c, temporal: { ...c.temporal, tracing } } : c;
};

// Before any command: the process's logger (JSON lines on stderr) and, when configured, its tracer. Each kind of
// process has its service name on its lines and spans.
program.hook('preAction', async (_root, action) => {
  const role = action.name() === 'worker' ? action.opts<{ role?: string }>().role : undefined;
  const { SERVICE_NAMES } = await import('../connectors/shared/tracing.ts');
  const service =
    action.name() === 'trigger' || role === 'trigger'
      ? SERVICE_NAMES.trigger
      : role === 'ingest' || role === 'embed'
        ? SERVICE_NAMES[role]
        : role
          ? SERVICE_NAMES.worker
          : SERVICE_NAMES.cli;
  const longRunning = service !== SERVICE_NAMES.cli;
  const level = logLevelOf(program.opts<{ logLevel?: string }>().logLevel, process.env, longRunning ? 'info' : 'error');
  configureLogging({ level, service });
  rememberEnvSecrets(process.env);
  const { tracingEnabled, startTracing } = await import('../connectors/shared/tracing.ts');
  if (tracingEnabled(process.env)) tracing = startTracing({ serviceName: service });
});
// Spans still buffered leave before the process ends.
program.hook('postAction', async () => {
  await tracing?.shutdown();
});

program
  .command('run')
  .description('ingest every document under a source: s3://bucket/prefix, file:///dir or a local path')
  .requiredOption('--source <uri>', 'where the documents are')
  .option('--wait', 'show progress and return when the run is done')
  .option('--json', 'wait, then print a summary object')
  .option('--no-worker', 'do not run workers in this process (rely on `ingest worker` processes)')
  .option('--promote', 'when done, make this pipeline version the one readers see (blue/green reindex)')
  .action(async (opts: { source: string; wait?: boolean; json?: boolean; worker: boolean; promote?: boolean }) => {
    // With its workers in this process, the run is a worker process: the same heap and malloc settings as `ingest worker`.
    if (opts.worker && (opts.wait || opts.json || opts.promote))
      (await import('../workers/heap.ts')).execWithWorkerHeap(process.env);
    const { runCommand } = await import('./commands/run.ts');
    const summary = await runCommand(ctx(), opts);
    if (summary && summary.documents.failed > 0) process.exitCode = 2;
  });

program
  .command('status')
  .description('per-document states and errors from the ledger')
  .option('--json', 'print one JSON object')
  .option('--failed', 'only failed documents')
  .option('--limit <n>', 'at most n documents', (v) => Number(v), 1000)
  .action(async (opts: { json?: boolean; failed?: boolean; limit: number }) =>
    (await import('./commands/status.ts')).statusCommand(ctx(), opts),
  );

program
  .command('search')
  .description('the chunks nearest to a question, with scores and sources')
  .argument('<query>')
  .option('-k, --top-k <n>', 'how many chunks', (v) => Number(v), 5)
  .option('--sink <name>', 'which sink to ask (default: the first)')
  .option('--json', 'print one JSON object')
  .option(
    '--hybrid',
    "keyword (BM25) + vector search (weaviate, milvus, pinecone with sparse bm25); weights from the spec's search.hybrid",
  )
  .option('--alpha <a>', 'hybrid: weight of the vector half, 0 (keyword only) to 1 (vector only)', parseFloat)
  .addOption(new Option('--fusion <how>', 'hybrid: how the two halves are fused').choices(['rrf', 'relative-score', 'convex']))
  .option('--rerank', "rerank the sink's candidates with the spec's search.reranker")
  .option('--candidates <k>', 'rerank: hits asked of the sink (default: search.candidates, else 50)', (v) => Number(v))
  .action(
    async (
      query: string,
      opts: {
        topK: number;
        sink?: string;
        json?: boolean;
        hybrid?: boolean;
        alpha?: number;
        fusion?: 'rrf' | 'relative-score' | 'convex';
        rerank?: boolean;
        candidates?: number;
      },
    ) => {
      await (await import('./commands/search.ts')).searchCommand(ctx(), query, opts);
    },
  );

program
  .command('delete')
  .description('remove a document from every sink and mark it deleted in the ledger')
  .argument('<uri>')
  .option('--no-worker', 'do not run workers in this process')
  .action(async (uri: string, opts: { worker: boolean }) => {
    const c = ctx();
    const workers = opts.worker
      ? await startWorkers({
          ...c.temporal,
          spec: c.spec,
          roles: ['ingest', 'embed'],
          s3: c.s3,
          baseDir: c.baseDir,
          bundleCacheDir: c.stack.cacheDir,
        })
      : undefined;
    const { RaglineClient } = await import('../sdk/client.ts');
    const client = await RaglineClient.connect({ ...c.temporal, spec: c.spec });
    try {
      const outcome = await client.deleteDocument(normaliseSourceUri(uri), { force: true });
      console.log(`${uri}: ${outcome.status}`);
    } finally {
      await client.close();
      await workers?.shutdown();
    }
  });

program
  .command('promote')
  .description("blue/green: validate this spec's index version in every sink, then switch readers to it")
  .option('--retire-after <minutes>', 'keep the replaced version this long (default: the spec, 24 h)', (v) => Number(v))
  .option('--force', 'skip the chunk-count checks (not the losses: those need --accept-loss)')
  .option(
    '--accept-loss <uri>',
    'promote even though this live document loses its chunks (repeatable)',
    (v: string, prev: string[] = []) => [...prev, v],
  )
  .option('--accept-all-losses', 'promote even though live documents lose their chunks')
  .option('--wait', 'also wait for the replaced version to be dropped')
  .option('--json', 'print one JSON object')
  .option('--no-worker', 'do not run workers in this process')
  .action(
    async (opts: {
      retireAfter?: number;
      force?: boolean;
      acceptLoss?: string[];
      acceptAllLosses?: boolean;
      wait?: boolean;
      json?: boolean;
      worker: boolean;
    }) => {
      await (await import('./commands/versions.ts')).promoteCommand(ctx(), opts);
    },
  );

program
  .command('reindex')
  .description("blue/green: build this spec's version beside the live one from its sources, validate, switch readers")
  .option(
    '--source <uri>',
    "a source to build from (repeatable; default: the sources of the spec's reindex schedules)",
    (v: string, prev: string[] = []) => [...prev, v],
  )
  .option('--retire-after <minutes>', 'keep the replaced version this long (default: the spec, 24 h)', (v) => Number(v))
  .option('--abort', "stop building this version and remove what it built (its indexes and this tenant's ledger rows)")
  .option('--json', 'print one JSON object')
  .option('--no-worker', 'do not run workers in this process (rely on `ingest worker` processes)')
  .action(async (opts: { source?: string[]; retireAfter?: number; abort?: boolean; json?: boolean; worker: boolean }) => {
    if (opts.worker && !opts.abort) (await import('../workers/heap.ts')).execWithWorkerHeap(process.env);
    const { reindexCommand, abortReindex, ReindexError } = await import('./commands/reindex.ts');
    try {
      if (opts.abort) await abortReindex(ctx(), opts);
      else await reindexCommand(ctx(), opts);
    } catch (err) {
      if (!(err instanceof ReindexError)) throw err;
      console.error(`ingest reindex: ${err.message}`);
      process.exitCode = 1;
    }
  });

program
  .command('reconcile')
  .description('compare every sink with the ledger and repair the drift: missing chunks, orphans, a lost index')
  .option('--dry-run', 'count the drift, change nothing')
  .option('--source <uri>', 'only documents under this source prefix (and let the workers read it)')
  .option(
    '--json',
    'print the report as one JSON object: { "sinks": { "<name>": { "missing", "orphans", "repaired", "rebuilt" } } }',
  )
  .option('--no-worker', 'do not run workers in this process (rely on `ingest worker` processes)')
  .action(async (opts: { dryRun?: boolean; source?: string; json?: boolean; worker: boolean }) => {
    if (opts.worker) (await import('../workers/heap.ts')).execWithWorkerHeap(process.env);
    const report = await (await import('./commands/reconcile.ts')).reconcileCommand(ctx(), opts);
    if (Object.values(report.sinks).some((s) => s.error !== undefined)) process.exitCode = 2;
  });

program
  .command('versions')
  .description('which index version readers see in each sink, and the history of versions')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    await (await import('./commands/versions.ts')).versionsCommand(ctx(), opts);
  });

program
  .command('worker')
  .description('run the pipeline workers until SIGINT/SIGTERM (graceful: running activities finish first)')
  .addOption(
    new Option('--role <role>', 'which worker (trigger: the event consumer, as `ingest trigger`)')
      .choices(['all', 'ingest', 'embed', 'trigger'])
      .default('all'),
  )
  // For a parent that runs this worker as its child (`ingest run` with a local model): end when the parent does.
  .addOption(new Option('--until-stdin-closes', 'shut down gracefully when stdin closes').hideHelp())
  .option('--metrics-port <port>', `Prometheus metrics on this port, or off (default: RAGLINE_METRICS_PORT, else ${9464})`)
  .option('--sdk-metrics-port <port>', "the Temporal SDK's own Prometheus metrics on this port (default: off)")
  .option(
    '--embed-server <url>',
    'with a pool embedder: the embedding server beside this embed worker (default: RAGLINE_EMBED_SERVER, else http://127.0.0.1:3000)',
  )
  .option(
    '--embed-concurrency <n>',
    "embed activities at once (default: 16; with a pool embedder, sized from the server's /info)",
  )
  .option('--embed-probe-interval <ms>', "with a pool embedder: between probes of the server's /health (default 2000)")
  .option('--embed-probe-failures <n>', 'with a pool embedder: failed probes in a row that pause polling (default 2)')
  .action(
    async (opts: {
      role: 'all' | 'ingest' | 'embed' | 'trigger';
      untilStdinCloses?: boolean;
      metricsPort?: string;
      sdkMetricsPort?: string;
      embedServer?: string;
      embedConcurrency?: string;
      embedProbeInterval?: string;
      embedProbeFailures?: string;
    }) => {
      const { metricsPort, startMetricsEndpoint, METRICS_PORTS } = await import('./metrics.ts');
      if (opts.role === 'trigger')
        return (await import('./commands/trigger.ts')).triggerCommand(ctx(), {
          metricsPort: metricsPort(opts.metricsPort, METRICS_PORTS.trigger),
        });
      (await import('../workers/heap.ts')).execWithWorkerHeap(process.env);
      const c = ctx();
      const roles = opts.role === 'all' ? (['ingest', 'embed'] as const) : ([opts.role] as const);
      const port = metricsPort(opts.metricsPort, METRICS_PORTS.worker);
      const sdkPort = opts.sdkMetricsPort === undefined ? 'off' : metricsPort(opts.sdkMetricsPort, 'off');
      const embedServer = opts.embedServer ?? process.env.RAGLINE_EMBED_SERVER;
      const numbers = {
        'embed-concurrency': opts.embedConcurrency,
        'embed-probe-interval': opts.embedProbeInterval,
        'embed-probe-failures': opts.embedProbeFailures,
      };
      for (const [flag, text] of Object.entries(numbers)) {
        if (text !== undefined && !(Number.isInteger(Number(text)) && Number(text) > 0)) {
          console.error(`ingest worker: --${flag} must be a positive integer, not ${text}`);
          process.exitCode = 2;
          return;
        }
      }
      const num = (text: string | undefined) => (text === undefined ? undefined : Number(text));
      const embedConcurrency = num(opts.embedConcurrency);
      const probeInterval = num(opts.embedProbeInterval);
      const probeFailures = num(opts.embedProbeFailures);
      const metrics = await startMetricsEndpoint(port, `worker ${roles.join('+')}`);
      const { EmbedServerMismatchError, EmbedServerUnreachableError } = await import('../connectors/embedders/pool.ts');
      let w;
      try {
        w = await startWorkers({
          ...(sdkPort === 'off' ? {} : { sdkMetricsPort: sdkPort }),
          ...c.temporal,
          spec: c.spec,
          roles: [...roles],
          s3: c.s3,
          baseDir: c.baseDir,
          bundleCacheDir: c.stack.cacheDir,
          ...(embedServer && { embedServer }),
          ...(embedConcurrency && { embedConcurrency }),
          embedProbe: {
            ...(probeInterval && { intervalMs: probeInterval, timeoutMs: Math.min(1000, probeInterval) }),
            ...(probeFailures && { failuresToPause: probeFailures }),
          },
        });
      } catch (err) {
        // A pool embed worker whose server serves another model (or does not answer) never polls.
        if (!(err instanceof EmbedServerMismatchError || err instanceof EmbedServerUnreachableError)) throw err;
        log().error({ err }, `ingest worker: ${err.message}`);
        console.error(`ingest worker: ${err.message}`);
        process.exitCode = 3;
        await metrics?.close();
        return;
      }
      const polling = `worker ${roles.join('+')} for pipeline ${c.spec.name} v${c.spec.version} is polling`;
      if (opts.untilStdinCloses) {
        process.stdin.once('close', () => void w.shutdown());
        process.stdin.resume();
        // The parent's readiness signal (workers/embed-child.ts), whatever the log level: the parent drops this line.
        process.stderr.write(`${polling}\n`);
      } else {
        log().info({ pipeline: c.spec.name, version: c.spec.version, roles }, `${polling}; Ctrl-C stops it`);
      }
      await w.done;
      await metrics?.close();
    },
  );

program
  .command('trigger')
  .description('consume the Kafka and S3-event topics the pipeline declares and signal each document, until SIGINT/SIGTERM')
  .option(
    '--also <file>',
    'another pipeline spec served too (e.g. the next version: blue/green); repeatable',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .option('--with-workers', 'also run the ingest and embed workers of every served version in this process')
  .option(
    '--brokers <list>',
    'comma-separated Kafka brokers for triggers that name none (default: KAFKA_BROKERS, else the local stack)',
  )
  .option('--metrics-port <port>', 'Prometheus metrics on this port, or off (default: RAGLINE_METRICS_PORT, else 9465)')
  .action(async (opts: { also: string[]; withWorkers?: boolean; brokers?: string; metricsPort?: string }) => {
    const { metricsPort, METRICS_PORTS } = await import('./metrics.ts');
    await (
      await import('./commands/trigger.ts')
    ).triggerCommand(ctx(), {
      ...opts,
      metricsPort: metricsPort(opts.metricsPort, METRICS_PORTS.trigger),
    });
  });

const schedule = program
  .command('schedule')
  .description('Temporal Schedules the spec declares (schedules:): periodic reindex of a source, for this version and tenant');
const scheduleCommands = () => import('./commands/schedule.ts');
schedule
  .command('apply')
  .description('create, update and delete schedules until Temporal holds exactly what the spec declares')
  .option('--json', 'print { created, updated, deleted, unchanged }')
  .action(async (opts: { json?: boolean }) => (await scheduleCommands()).applyCommand(ctx(), opts));
schedule
  .command('list')
  .description("this pipeline version's and tenant's schedules: timetable, overlap, paused, next run")
  .option('--json', 'print a JSON array')
  .action(async (opts: { json?: boolean }) => (await scheduleCommands()).listCommand(ctx(), opts));
schedule
  .command('describe')
  .description('one schedule: its timetable, policies, recent and running source runs')
  .argument('<name>')
  .option('--json', 'print one JSON object')
  .action(async (name: string, opts: { json?: boolean }) => (await scheduleCommands()).describeCommand(ctx(), name, opts));
schedule
  .command('pause')
  .description('stop starting runs on the timetable (an unchanged spec re-applied keeps the pause)')
  .argument('<name>')
  .option('--note <text>', 'why (shown by describe and in the Temporal UI)')
  .action(async (name: string, opts: { note?: string }) => (await scheduleCommands()).pauseCommand(ctx(), name, opts));
schedule
  .command('unpause')
  .description('start runs on the timetable again')
  .argument('<name>')
  .option('--note <text>', 'why')
  .action(async (name: string, opts: { note?: string }) => (await scheduleCommands()).unpauseCommand(ctx(), name, opts));
schedule
  .command('trigger')
  .description("start a source run now, under the schedule's overlap policy")
  .argument('<name>')
  .action(async (name: string) => (await scheduleCommands()).triggerCommand(ctx(), name));
schedule
  .command('backfill')
  .description("take the runs of every scheduled time in a past window now, under the schedule's overlap policy")
  .argument('<name>')
  .requiredOption('--from <iso>', 'window start, ISO-8601 (a time without Z or an offset is local time)')
  .requiredOption('--to <iso>', 'window end, ISO-8601')
  .action(async (name: string, opts: { from: string; to: string }) =>
    (await scheduleCommands()).backfillCommand(ctx(), name, opts),
  );
schedule
  .command('delete')
  .description('delete a schedule (its running source runs go on; apply recreates it while the spec declares it)')
  .argument('<name>')
  .action(async (name: string) => (await scheduleCommands()).deleteCommand(ctx(), name));

const runs = program
  .command('runs')
  .description('source runs of this pipeline version and tenant: list, progress, pause, resume, throttle, cancel');
const runsCommands = () => import('./commands/runs.ts');
runs
  .command('list')
  .description('source runs, newest first: status, start time, source')
  .option('--json', 'print a JSON array')
  .action(async (opts: { json?: boolean }) => (await runsCommands()).listCommand(ctx(), opts));
runs
  .command('describe')
  .description("a run's progress: listed, ingested, unchanged, deleted, failed, in flight, window, paused")
  .argument('<source-uri>')
  .option('--json', 'print one JSON object')
  .action(async (uri: string, opts: { json?: boolean }) => (await runsCommands()).describeCommand(ctx(), uri, opts));
runs
  .command('pause')
  .description('stop starting documents (those in flight finish)')
  .argument('<source-uri>')
  .action(async (uri: string) => (await runsCommands()).pauseCommand(ctx(), uri));
runs
  .command('resume')
  .description('start documents again')
  .argument('<source-uri>')
  .action(async (uri: string) => (await runsCommands()).resumeCommand(ctx(), uri));
runs
  .command('throttle')
  .description('set how many documents run at once (1 to 1000); lowering it lets those in flight finish')
  .argument('<source-uri>')
  .argument('<n>')
  .action(async (uri: string, n: string) => (await runsCommands()).throttleCommand(ctx(), uri, n));
runs
  .command('cancel')
  .description('stop the run: no new documents, those in flight cancelled and cleaned up, the run ends cancelled')
  .argument('<source-uri>')
  .action(async (uri: string) => (await runsCommands()).cancelCommand(ctx(), uri));

for (const [name, args, description] of [
  ['up', ['up'], 'start the local stack (Temporal, Kafka, S3, Weaviate, Milvus, Chroma)'],
  ['down', ['down'], 'stop the local stack'],
  ['stack', ['status'], 'health of the local stack (--json)'],
] as const) {
  program
    .command(name)
    .description(description)
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action(async (rest: string[]) => infraMain(['node', 'infra', ...args, ...rest]));
}

program
  .command('codec-server')
  .description("decode encrypted payloads for the Temporal UI and CLI with the spec's key ring (temporal.encryption)")
  .option('--port <n>', 'port to listen on', (v) => Number(v), 8089)
  .option('--host <ip>', 'address to listen on', '127.0.0.1')
  .option('--token-env <name>', 'environment variable holding the bearer token(s) callers must send, one a line')
  .option('--token-file <path>', 'file holding the bearer token(s) callers must send, one a line')
  .option('--insecure-no-auth', 'accept requests without a token (a local UI without login only)')
  .option(
    '--cors-origin <origin>',
    'browser origin allowed to call (the UI), repeatable; default: the local UI',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .action(async (opts: CodecServerCommandOptions) => {
    const { codecServerCommand, CodecServerConfigError } = await import('./commands/codec-server.ts');
    try {
      await codecServerCommand(ctx(), opts);
    } catch (err) {
      if (!(err instanceof CodecServerConfigError)) throw err;
      console.error(`ingest codec-server: ${err.message}`);
      process.exitCode = 1;
    }
  });

program
  .command('models')
  .description('the embedding model catalog: dims, window, pooling, prefixes, licence, providers')
  .option('--json', 'print a JSON array with every field')
  .action(async (opts: { json?: boolean }) => (await import('./commands/models.ts')).modelsCommand(opts));

program
  .command('demo')
  .description('start the local stack, ingest the sample corpus from the local S3 server and answer a question')
  .action(async () => (await import('./commands/demo.ts')).demoCommand(ctx()));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (
    err instanceof PipelineSpecError ||
    err instanceof StackUpError ||
    err instanceof StackConfigError ||
    err instanceof EmbedChildError ||
    err instanceof LogLevelError
  ) {
    console.error(`ingest: ${err.message}`);
    process.exitCode = 1;
  } else if (err instanceof WorkflowFailedError) {
    // The root cause is what an operator can act on (a missing folder, a bucket without access), not the chain.
    let cause: Error | undefined = err;
    while (cause?.cause instanceof Error) cause = cause.cause;
    console.error(`ingest: the run failed: ${cause?.message ?? err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
