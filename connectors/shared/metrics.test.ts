import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { metrics, registry, serveMetrics } from './metrics.ts';

const root = join(import.meta.dirname, '..', '..');

test('every ragline_ series the Grafana dashboard queries is one this registry exports', async () => {
  const dashboard = readFileSync(join(root, 'deploy', 'grafana', 'ragline-dashboard.json'), 'utf8');
  const used = new Set([...dashboard.matchAll(/\b(ragline_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, '')));
  const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  assert.ok(used.size >= 8, `the dashboard uses ${used.size} series`);
  for (const name of used) assert.ok(exported.has(name), `${name} is exported`);
  for (const name of exported) if (name.startsWith('ragline_')) assert.ok(used.has(name), `${name} is on the dashboard`);
});

test('serveMetrics answers /metrics in Prometheus text, 404 elsewhere, and refuses a taken port', async () => {
  metrics.chunks.inc({ pipeline: 'unit-v1' }, 3);
  const server = await serveMetrics(0, '127.0.0.1');
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(await res.text(), /^ragline_chunks_total\{pipeline="unit-v1"\} 3$/m);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 404);
    await assert.rejects(serveMetrics(server.port, '127.0.0.1'), /EADDRINUSE/);
  } finally {
    await server.close();
  }
});
