import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

// OpenTelemetry traces, off unless an OTLP endpoint is configured. One tracer provider per process, registered
// globally (the Temporal interceptors use the global tracer and propagator); spans leave in batches over OTLP/HTTP
// (JSON). The spans carry names and ids (workflow type and id, run id, activity type and id), never payloads.

/** The service name of each kind of ragline process, on every span it exports. */
export const SERVICE_NAMES = {
  cli: 'ragline-cli',
  trigger: 'ragline-trigger',
  ingest: 'ragline-worker-ingest',
  embed: 'ragline-worker-embed',
  worker: 'ragline-worker',
} as const;

/**
 * Whether the environment turns tracing on: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set,
 * and OTEL_SDK_DISABLED is not `true`. The exporter reads the rest of the standard OTLP variables itself (the same
 * endpoints, OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION).
 */
export function tracingEnabled(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return !!(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/** What a Temporal client or worker needs to trace: the process's span processor and resource. */
export interface Tracing {
  readonly resource: Resource;
  /** Ends in the OTLP exporter; the workers hand it the spans their workflows make (inside the sandbox). */
  readonly spanProcessor: SpanProcessor;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  serviceName: string;
  /** The OTLP/HTTP traces url (`http://collector:4318/v1/traces`). Default: from the OTEL_EXPORTER_OTLP_* variables. */
  url?: string;
}

let started: Tracing | undefined;

/**
 * Registers this process's tracer provider (W3C trace context propagation, async-hooks context) exporting to OTLP.
 * Once per process: a second call returns the first one's.
 */
export function startTracing(opts: TracingOptions): Tracing {
  if (started) return started;
  const resource = Resource.default().merge(new Resource({ [ATTR_SERVICE_NAME]: opts.serviceName }));
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter(opts.url ? { url: opts.url } : {}), {
    scheduledDelayMillis: 1000,
  });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  let stopping: Promise<void> | undefined;
  started = { resource, spanProcessor, shutdown: () => (stopping ??= provider.shutdown()) };
  return started;
}
