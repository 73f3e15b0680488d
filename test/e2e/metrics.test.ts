import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prometheusTargetsDir } from '../../infra/services/prometheus.ts';
import { startCliProcess, stopProcess } from '../support/cli-process.ts';
import { eventually, stack } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

const prometheus = `http://127.0.0.1:${stack.ports.prometheus}`;
const dashboardFile = join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'ragline-dashboard.json');

interface Panel {
  title?: string;
  panels?: Panel[];
  targets?: Array<{ expr?: string }>;
}

/** Every query of the Grafana dashboard, with the panel it draws. */
function dashboardQueries(): Array<{ panel: string; expr: string }> {
  const out: Array<{ panel: string; expr: string }> = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      walk(p.panels ?? []);
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '?', expr: t.expr });
    }
  };
  walk((JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Panel[] }).panels);
  return out;
}

/** One instant query against the stack's Prometheus: the samples' values by their `outcome` (or first) label. */
async function query(promql: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

describe('metrics: a worker process serves Prometheus metrics and the real Prometheus scrapes them during a run', () => {
  const h = new Harness({ embedder: { kind: 'hash', dims: 64 } });
  const pipeline = `${h.spec.name}-v${h.spec.version}`;
  const targets = join(prometheusTargetsDir(stack), `${h.spec.name}.json`);
  let worker: ChildProcess | undefined;
  let port = 0;

  before(async () => {
    await h.start({ workers: false });
    const specFile = join(h.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    worker = await startCliProcess(['--pipeline', specFile, 'worker', '--metrics-port', '0'], 'is polling', cliEnv(), (t) => {
      const m = /metrics on http:\/\/0\.0\.0\.0:(\d+)\/metrics/.exec(t);
      if (m) port = Number(m[1]);
    });
    assert.ok(port > 0, 'the worker said where its metrics are');
    mkdirSync(prometheusTargetsDir(stack), { recursive: true });
    writeFileSync(targets, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { test: h.spec.name } }]));
  });
  after(async () => {
    rmSync(targets, { force: true });
    if (worker) await stopProcess(worker, 'SIGTERM');
    await h.dropIndexes().catch(() => undefined);
    await h.stop();
  });

  it('serves documents, chunks, embed and upsert latencies, cache lookups and process metrics on /metrics', async () => {
    for (let i = 0; i < 6; i++) await h.put(`m/doc-${i}.txt`, `Metrics note ${i}. `.repeat(30));
    await h.put('m/broken.pdf', '%PDF-1.7 not really');
    const counts = await h.ingestAll('m/');
    assert.deepEqual([counts.ingested, counts.failed], [6, 1]);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const sample = (name: string, labels: string) =>
      Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    assert.equal(sample('ragline_documents_total', `pipeline="${pipeline}",outcome="ingested",failure_type=""`), 6);
    assert.equal(sample('ragline_documents_total', `pipeline="${pipeline}",outcome="failed",failure_type="CorruptDocument"`), 1);
    assert.equal(sample('ragline_chunks_total', `pipeline="${pipeline}"`), counts.chunks);
    assert.ok(sample('ragline_embedding_cache_total', `pipeline="${pipeline}",result="miss"`) > 0);
    assert.match(text, new RegExp(`^ragline_embed_batch_seconds_count\\{pipeline="${pipeline}",embedder="[^"]+"\\} [1-9]`, 'm'));
    assert.match(text, new RegExp(`^ragline_sink_upsert_seconds_count\\{pipeline="${pipeline}",sink="chroma"\\} [1-9]`, 'm'));
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.ok(!text.includes('Metrics note'), 'no document text in metrics');
  });

  it('the stack’s Prometheus scrapes them: its query API has our counters', async () => {
    const ingested = await eventually(
      async () => {
        const r = await query(`ragline_documents_total{pipeline="${pipeline}",outcome="ingested"}`);
        return r[0]?.value === 6 ? r : undefined;
      },
      30_000,
      'Prometheus has scraped the worker',
    );
    assert.equal(ingested[0]!.metric.test, h.spec.name, 'the series came from the target this test declared');
    const up = await query(`up{test="${h.spec.name}"}`);
    assert.equal(up[0]?.value, 1);
  });

  it("the stack's Prometheus scrapes the Temporal server's own metrics too (job temporal, every 15 s)", async () => {
    // Activities have completed in our namespace (this file's run, and any before it): the server counted them.
    const polls = await eventually(
      async () => {
        const r = await query(
          `sum(service_requests{job="temporal",namespace="${stack.temporalNamespace}",operation="RespondActivityTaskCompleted"})`,
        );
        return (r[0]?.value ?? 0) > 0 ? r : undefined;
      },
      45_000,
      "Prometheus has scraped Temporal's metrics",
    );
    assert.ok(polls[0]!.value > 0);
  });

  it("the Grafana dashboard's queries return data for the run (those about events the run had none of still parse)", async () => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 10, `${queries.length} queries in the dashboard`);
    // This run has no sink errors, no rate limits and no Kafka trigger: their panels are empty here, but valid PromQL.
    const noEvents = /ragline_sink_errors_total|ragline_rate_limit_wait_seconds_total|ragline_kafka_consumer_lag/;
    for (const { panel, expr } of queries) {
      // The dashboard's pipeline variable, set to this run's pipeline; only this test's worker has the `test` label.
      const promql = expr.replaceAll('$pipeline', pipeline).replace('{job="ragline"}', `{job="ragline",test="${h.spec.name}"}`);
      const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; error?: string };
      assert.equal(body.status, 'success', `${panel}: ${promql}: ${body.error}`);
      if (noEvents.test(expr)) continue;
      // rate() needs two scrapes of the series in its window; they come every second. A quantile of a window with no
      // increase is NaN, still a series the panel draws.
      await eventually(
        async () => ((await query(promql)).length > 0 ? true : undefined),
        30_000,
        `data for the panel "${panel}" (${promql})`,
      );
    }
  });
});
