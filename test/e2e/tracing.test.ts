import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { RunSummary } from '../../cli/commands/run.ts';
import { workflowBundlePath } from '../../workers/bundle.ts';
import { stack } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: { stringValue?: string } }[];
}
interface Received {
  service: string;
  span: OtlpSpan;
}

/** A minimal OTLP/HTTP traces receiver: takes JSON export requests on POST /v1/traces, answers 200. */
class OtlpReceiver {
  readonly requests: { path: string; contentType: string | undefined }[] = [];
  readonly spans: Received[] = [];
  private readonly server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      this.requests.push({ path: req.url ?? '', contentType: req.headers['content-type'] });
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const data = JSON.parse(body) as {
          resourceSpans: {
            resource: { attributes: { key: string; value: { stringValue?: string } }[] };
            scopeSpans: { spans: OtlpSpan[] }[];
          }[];
        };
        for (const rs of data.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const span of ss.spans) this.spans.push({ service, span });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const attr = (s: OtlpSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value.stringValue;

describe('tracing: one trace from the client through the workflows to the activities, off by default', () => {
  const h = new Harness();
  const receiver = new OtlpReceiver();
  let endpoint = '';
  let specFile = '';

  /** `ingest run --json` over a prefix with the given extra environment. */
  async function ingestRun(prefix: string, env: NodeJS.ProcessEnv): Promise<RunSummary> {
    const { stdout } = await run(
      process.execPath,
      [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'run', '--source', `s3://${h.bucket}/${prefix}`, '--json'],
      { cwd: root, env: { ...cliEnv(), ...env }, maxBuffer: 16 * 1024 * 1024 },
    );
    return JSON.parse(stdout) as RunSummary;
  }

  before(async () => {
    await h.start({ workers: false });
    specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    for (const p of ['on', 'off'])
      for (let i = 0; i < 2; i++) await h.put(`${p}/d${i}.txt`, `Tracing note ${i}. Spans follow the work. `.repeat(20));
    endpoint = await receiver.start();
  });
  after(async () => {
    await receiver.close();
    await h.dropIndexes().catch(() => undefined);
    await h.stop();
  });

  it('exports the StartWorkflow, workflow and activity spans of a run, all in the client’s trace', async () => {
    const summary = await ingestRun('on/', { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    assert.equal(summary.documents.ingested, 2);
    assert.ok(receiver.requests.length > 0, 'the exporter sent something');
    assert.ok(receiver.requests.every((r) => r.path === '/v1/traces' && r.contentType === 'application/json'));

    const spans = receiver.spans;
    const start = spans.find((s) => s.span.name === 'StartWorkflow:sourceWorkflow');
    assert.ok(start, `no StartWorkflow span among ${[...new Set(spans.map((s) => s.span.name))].join(', ')}`);
    assert.equal(start.service, 'ragline-cli');
    assert.equal(start.span.parentSpanId ?? '', '', 'the client start is the root');
    const trace = spans.filter((s) => s.span.traceId === start.span.traceId);
    const names = (name: string) => trace.filter((s) => s.span.name === name);

    assert.equal(names('RunWorkflow:sourceWorkflow').length >= 1, true, 'the source workflow ran in the trace');
    assert.equal(names('StartChildWorkflow:documentWorkflow').length, 2);
    const docRuns = names('RunWorkflow:documentWorkflow');
    assert.equal(docRuns.length, 2, 'each document workflow ran in the trace');
    for (const activity of ['listSourcePage', 'fetchAndParse', 'embedChunks', 'upsertToSink', 'commitDocument']) {
      const runs = names(`RunActivity:${activity}`);
      assert.ok(runs.length >= 1, `no RunActivity:${activity} span in the trace`);
      assert.ok(names(`StartActivity:${activity}`).length >= 1, `no StartActivity:${activity} span in the trace`);
    }
    // The embed step ran in the embed worker's own process: its span is still in the client's trace.
    const embed = names('RunActivity:embedChunks');
    assert.ok(embed.every((s) => s.service === 'ragline-worker-embed'));
    assert.equal(new Set(embed.map((s) => attr(s.span, 'temporalWorkflowId'))).size, 2);
    // Parent links hold: every span of the trace but the root has its parent in the trace.
    const ids = new Set(trace.map((s) => s.span.spanId));
    for (const s of trace) if (s !== start) assert.ok(ids.has(s.span.parentSpanId ?? ''), `${s.span.name} has no parent`);
  });

  it('the tracing workers run a bundle of their own; the bundle without tracing has no interceptors in it', () => {
    const dir = join(stack.cacheDir, 'workflow-bundles');
    const bundles = readdirSync(dir).filter((f) => f.endsWith('.js'));
    const withOtel = bundles.filter((f) => readFileSync(join(dir, f), 'utf8').includes('OpenTelemetryInboundInterceptor'));
    assert.ok(withOtel.length >= 1, 'a bundle with the OpenTelemetry interceptors was built');
    assert.ok(bundles.length > withOtel.length, 'and one without');
  });

  it('with tracing off (no endpoint), a run sends nothing', async () => {
    const before = receiver.requests.length;
    const env = { ...cliEnv(), OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined };
    const summary = await ingestRun('off/', env);
    assert.equal(summary.documents.ingested, 2);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(receiver.requests.length, before);
  });

  /** Replays histories on the bundle with or without tracing; returns the failures. */
  async function replay(tracing: boolean, histories: HistoryAndWorkflowId[]): Promise<string[]> {
    const codePath = await workflowBundlePath(stack.cacheDir, { tracing });
    assert.ok(existsSync(codePath));
    const failures: string[] = [];
    const sinks = { exporter: makeWorkflowExporter(new SimpleSpanProcessor(new InMemorySpanExporter()), new Resource({})) };
    for await (const r of Worker.runReplayHistories(
      { workflowBundle: { codePath }, replayName: `replay-tracing-${tracing}`, ...(tracing && { sinks }) },
      histories,
    ))
      if (r.error) failures.push(`${r.workflowId}: ${r.error.message.slice(0, 500)}`);
    return failures;
  }

  it('recorded histories (updates included) replay on the tracing bundle: turning tracing on breaks no open run', async () => {
    const dir = join(root, 'test', 'replay', 'histories');
    const histories = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as HistoryAndWorkflowId);
    assert.deepEqual(await replay(true, histories), []);
  });

  it('the traced run’s histories replay without tracing: turning it off breaks no open run either', async () => {
    const ids = [...new Set(receiver.spans.map((s) => attr(s.span, 'temporalWorkflowId')).filter((id) => id !== undefined))];
    const mine = ids.filter((id) => id.includes(`s3://${h.bucket}/on/`));
    assert.equal(mine.length, 3, mine.join());
    const histories = await Promise.all(
      mine.map(async (workflowId) => ({
        workflowId,
        history: await h.client.temporal.workflow.getHandle(workflowId).fetchHistory(),
      })),
    );
    assert.deepEqual(await replay(false, histories), []);
    assert.deepEqual(await replay(true, histories), []);
  });
});
