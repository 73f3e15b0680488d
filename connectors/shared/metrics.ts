import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// Prometheus metrics of one process (a worker, the trigger), served on /metrics by `serveMetrics`. Recorded where the
// work happens (activities, the embedding loop, sink writes, the rate budget, the Kafka consumer); label values are
// pipeline, sink and embedder names and failure types, never document uris or text. Counters count attempts: an
// activity that Temporal retries after a crash may count its work again.

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const metrics = {
  documents: new Counter({
    name: 'ragline_documents_total',
    help: 'Documents applied, by outcome (ingested, unchanged, deleted, failed, cancelled) and failure type',
    labelNames: ['pipeline', 'outcome', 'failure_type'] as const,
    registers: [registry],
  }),
  chunks: new Counter({
    name: 'ragline_chunks_total',
    help: 'Chunks written by the chunker',
    labelNames: ['pipeline'] as const,
    registers: [registry],
  }),
  tokens: new Counter({
    name: 'ragline_tokens_total',
    help: "Tokens in the chunks written (the chunker's count)",
    labelNames: ['pipeline'] as const,
    registers: [registry],
  }),
  embedSeconds: new Histogram({
    name: 'ragline_embed_batch_seconds',
    help: 'Time to embed one batch of chunks (cache misses only)',
    labelNames: ['pipeline', 'embedder'] as const,
    buckets: SECONDS,
    registers: [registry],
  }),
  embedBatchTexts: new Histogram({
    name: 'ragline_embed_batch_texts',
    help: 'Texts per batch sent to the embedder',
    labelNames: ['pipeline', 'embedder'] as const,
    buckets: [1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048],
    registers: [registry],
  }),
  embedCache: new Counter({
    name: 'ragline_embedding_cache_total',
    help: 'Embedding cache lookups by result (hit, miss); the hit rate is hit / (hit + miss)',
    labelNames: ['pipeline', 'result'] as const,
    registers: [registry],
  }),
  sinkUpsertSeconds: new Histogram({
    name: 'ragline_sink_upsert_seconds',
    help: 'Time of one upsert batch to a sink',
    labelNames: ['pipeline', 'sink'] as const,
    buckets: SECONDS,
    registers: [registry],
  }),
  sinkErrors: new Counter({
    name: 'ragline_sink_errors_total',
    help: 'Failed sink writes and deletes, by failure type',
    labelNames: ['pipeline', 'sink', 'type'] as const,
    registers: [registry],
  }),
  rateLimitWaitSeconds: new Counter({
    name: 'ragline_rate_limit_wait_seconds_total',
    help: 'Time spent waiting for the shared rate budget or a provider 429 before calling an embedder',
    labelNames: ['budget'] as const,
    registers: [registry],
  }),
  kafkaLag: new Gauge({
    name: 'ragline_kafka_consumer_lag',
    help: "Messages between the trigger's consumer group offset and the partition's high watermark",
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [registry],
  }),
};

/** The pipeline label: name and version (`docs-v2`). */
export function pipelineLabel(p: { name: string; version: number }): string {
  return `${p.name}-v${p.version}`;
}

/** The failure type of an error for a label: a typed connector error's type, else its name. */
export function failureLabel(err: unknown): string {
  const e = err as { type?: unknown; name?: unknown };
  return typeof e?.type === 'string' ? e.type : typeof e?.name === 'string' ? e.name : 'Error';
}

/** Seconds since `start` (from performance.now()), for histograms. */
export function since(start: number): number {
  return (performance.now() - start) / 1000;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the registry (and `extra` text, e.g. another registry) as Prometheus text on http://host:port/metrics.
 * Port 0 picks a free port. Rejects when the port is taken: callers decide whether that stops them.
 */
export function serveMetrics(port: number, host = '0.0.0.0'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
