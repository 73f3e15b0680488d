import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTriggers, routeDocumentEvent, routeS3Event, type RouteDecision, type RouteTarget } from './routing.ts';
import { TriggerSpec } from './trigger-config.ts';

const target = (name: string, version: number, tenant: string, triggers: unknown[]): RouteTarget => ({
  name,
  version,
  tenant,
  triggers: triggers.map((t) => TriggerSpec.parse(t)),
});

const docsV1 = target('docs', 1, 'acme', [{ kind: 'kafka', topic: 'doc-events', tenants: ['acme', 'globex'] }]);
const docsV2 = target('docs', 2, 'acme', [{ kind: 'kafka', topic: 'doc-events', tenants: ['acme', 'globex'] }]);
const wiki = target('wiki', 1, 'initech', [
  { kind: 'kafka', topic: 'doc-events' },
  { kind: 's3-events', topic: 's3-events', bucket: 'wiki', prefix: 'pages/' },
]);
const archive = target('archive', 3, 'acme', [{ kind: 's3-events', topic: 's3-events', bucket: 'wiki' }]);
const all = [docsV1, docsV2, wiki, archive];

const summary = (d: RouteDecision<RouteTarget>) =>
  d.ok ? d.routes.map((r) => `${r.target.name}-v${r.target.version}:${r.tenant}:${r.uri}`) : d.rejection.type;

describe('routing document events', () => {
  it('sends an event naming a pipeline to every served version of it, with the event tenant', () => {
    const d = routeDocumentEvent(all, 'doc-events', { op: 'upsert', uri: 'file:///a', pipeline: 'docs', tenant: 'globex' });
    assert.deepEqual(summary(d), ['docs-v1:globex:file:///a', 'docs-v2:globex:file:///a']);
  });

  it('sends an event naming no pipeline to every pipeline on the topic, each with its own tenant', () => {
    assert.deepEqual(summary(routeDocumentEvent(all, 'doc-events', { op: 'delete', uri: 'file:///a' })), [
      'docs-v1:acme:file:///a',
      'docs-v2:acme:file:///a',
      'wiki-v1:initech:file:///a',
    ]);
  });

  it('keeps only the versions whose trigger admits the tenant (default: the spec tenant)', () => {
    assert.deepEqual(summary(routeDocumentEvent(all, 'doc-events', { op: 'upsert', uri: 'file:///a', tenant: 'initech' })), [
      'wiki-v1:initech:file:///a',
    ]);
  });

  it('refuses an unknown pipeline, an unknown tenant and a topic nobody declares as UnroutableEvent', () => {
    for (const [topic, e] of [
      ['doc-events', { pipeline: 'nope' }],
      ['doc-events', { pipeline: 'docs', tenant: 'initech' }],
      ['doc-events', { tenant: 'umbrella' }],
      ['other', {}],
      ['s3-events', {}],
    ] as const) {
      const d = routeDocumentEvent(all, topic, { op: 'upsert', uri: 'file:///a', ...e });
      assert.equal(summary(d), 'UnroutableEvent', `${topic} ${JSON.stringify(e)}`);
      assert.ok(!d.ok && d.rejection.reason.length > 0);
    }
  });
});

describe('routing S3 records', () => {
  const s3 = (bucket: string, key: string) => ({ op: 'upsert' as const, bucket, key, uri: `s3://${bucket}/${key}` });

  it('matches bucket and key prefix; each version gets its own tenant', () => {
    assert.deepEqual(summary(routeS3Event(all, 's3-events', s3('wiki', 'pages/a b.md'))), [
      'wiki-v1:initech:s3://wiki/pages/a b.md',
      'archive-v3:acme:s3://wiki/pages/a b.md',
    ]);
    assert.deepEqual(summary(routeS3Event(all, 's3-events', s3('wiki', 'drafts/x.md'))), [
      'archive-v3:acme:s3://wiki/drafts/x.md',
    ]);
  });

  it('refuses a bucket nobody declared', () => {
    assert.equal(summary(routeS3Event(all, 's3-events', s3('other', 'pages/x'))), 'UnroutableEvent');
  });

  it('signals a document once per version even when two prefixes of one version match', () => {
    const twice = target('t', 1, 'a', [
      { kind: 's3-events', topic: 's3-events', bucket: 'wiki', prefix: 'p' },
      { kind: 's3-events', topic: 's3-events', bucket: 'wiki', prefix: 'pa' },
    ]);
    assert.deepEqual(summary(routeS3Event([twice], 's3-events', s3('wiki', 'pages'))), ['t-v1:a:s3://wiki/pages']);
  });
});

describe('checking served triggers', () => {
  it('refuses a topic read in two formats', () => {
    const clash = target('x', 1, 'a', [{ kind: 's3-events', topic: 'doc-events', bucket: 'wiki' }]);
    assert.deepEqual(checkTriggers(all), []);
    assert.equal(checkTriggers([...all, clash]).length, 1);
  });
});
