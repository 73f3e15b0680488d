import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeS3Key, parseDocumentEvent, parseS3Event, type ParseResult } from './schema.ts';

const msg = (value: unknown, key: string | null = null, headers: Record<string, string> = {}) => ({
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
  headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
});

function rejected<E>(res: ParseResult<E>): { type: string; reason: string } {
  assert.equal(res.ok, false, `expected a rejection, got ${JSON.stringify(res)}`);
  return (res as { ok: false; rejection: { type: string; reason: string } }).rejection;
}

function events<E>(res: ParseResult<E>): E[] {
  assert.equal(res.ok, true, `expected events, got ${JSON.stringify(res)}`);
  return (res as { ok: true; events: E[] }).events;
}

const v1 = { schema: 'ragline.document-event/v1', op: 'upsert', uri: 's3://docs-bucket/a b/c.txt' };

describe('document events (ragline.document-event/v1)', () => {
  it('accepts a full event, with an ISO timestamp or epoch ms', () => {
    const iso = { ...v1, tenant: 'acme', pipeline: 'docs', objectVersion: 'abc-2', timestamp: '2025-01-31T12:00:00.500+01:00' };
    assert.deepEqual(events(parseDocumentEvent(msg(iso))), [
      {
        op: 'upsert',
        uri: 's3://docs-bucket/a b/c.txt',
        tenant: 'acme',
        pipeline: 'docs',
        objectVersion: 'abc-2',
        eventTime: Date.UTC(2025, 0, 31, 11, 0, 0, 500),
      },
    ]);
    assert.deepEqual(
      events(parseDocumentEvent(msg({ ...v1, op: 'delete', uri: 'file:///srv/x.md', timestamp: 1738324800000 }))),
      [{ op: 'delete', uri: 'file:///srv/x.md', eventTime: 1738324800000 }],
    );
  });

  it('ignores fields v1 does not know', () => {
    assert.deepEqual(events(parseDocumentEvent(msg({ ...v1, priority: 'high' }))), [{ op: 'upsert', uri: v1.uri }]);
  });

  it('refuses what is not JSON, not UTF-8 or empty as MalformedEvent', () => {
    assert.equal(rejected(parseDocumentEvent(msg('{"schema": '))).type, 'MalformedEvent');
    assert.equal(rejected(parseDocumentEvent({ key: null, value: Buffer.from([0xff, 0xfe, 0x7b]) })).type, 'MalformedEvent');
    assert.equal(rejected(parseDocumentEvent({ key: null, value: Buffer.alloc(0) })).type, 'MalformedEvent');
  });

  it('refuses an unknown or missing schema version as UnsupportedSchema', () => {
    const v2 = rejected(parseDocumentEvent(msg({ ...v1, schema: 'ragline.document-event/v2' })));
    assert.equal(v2.type, 'UnsupportedSchema');
    assert.match(v2.reason, /document-event\/v2/);
    assert.equal(rejected(parseDocumentEvent(msg({ op: 'upsert', uri: v1.uri }))).type, 'UnsupportedSchema');
    assert.equal(rejected(parseDocumentEvent(msg([v1]))).type, 'UnsupportedSchema');
    assert.equal(rejected(parseDocumentEvent(msg('"just a string"'))).type, 'UnsupportedSchema');
  });

  it('refuses missing or invalid fields as InvalidEvent, naming each', () => {
    const r = rejected(parseDocumentEvent(msg({ schema: v1.schema })));
    assert.equal(r.type, 'InvalidEvent');
    assert.match(r.reason, /op/);
    assert.match(r.reason, /uri/);
    for (const bad of [
      { ...v1, op: 'rename' },
      { ...v1, uri: 'http://example.com/x' },
      { ...v1, uri: 's3://Bad_Bucket/x' },
      { ...v1, uri: 's3://bucket-only' },
      { ...v1, tenant: 'no spaces allowed' },
      { ...v1, timestamp: 'yesterday' },
      { ...v1, timestamp: -1 },
    ]) {
      assert.equal(rejected(parseDocumentEvent(msg(bad))).type, 'InvalidEvent', JSON.stringify(bad));
    }
  });

  it('reads a tombstone keyed by the uri as a delete, narrowed by headers', () => {
    assert.deepEqual(events(parseDocumentEvent(msg(null, 's3://docs-bucket/gone.txt'))), [
      { op: 'delete', uri: 's3://docs-bucket/gone.txt' },
    ]);
    const narrowed = parseDocumentEvent(msg(null, 'file:///a/b', { 'ragline-tenant': 'acme', 'ragline-pipeline': 'docs' }));
    assert.deepEqual(events(narrowed), [{ op: 'delete', uri: 'file:///a/b', tenant: 'acme', pipeline: 'docs' }]);
    assert.equal(rejected(parseDocumentEvent(msg(null, null))).type, 'InvalidEvent');
    assert.equal(rejected(parseDocumentEvent(msg(null, 'not-a-uri'))).type, 'InvalidEvent');
  });
});

const record = (eventName: string, key: string, extra: Record<string, unknown> = {}) => ({
  eventVersion: '2.1',
  eventSource: 'aws:s3',
  eventTime: '2025-01-31T12:00:00.000Z',
  eventName,
  s3: { s3SchemaVersion: '1.0', configurationId: 'ingest', bucket: { name: 'docs-bucket' }, object: { key, ...extra } },
});

describe('S3 event notifications', () => {
  it('decodes AWS-encoded keys exactly: spaces, +, %, Unicode and long keys', () => {
    const keys = [
      'a b/c d.txt',
      'plus+sign.txt',
      '100% sure.txt',
      'ünï/日本語 ☃.txt',
      `long/${'é/'.repeat(335)}end.txt`,
      "q?u=e&r#y~!*'().txt",
    ];
    for (const key of keys) {
      // AWS's form encoding: encodeURIComponent, then spaces as '+'.
      const encoded = encodeURIComponent(key).replace(/%20/g, '+');
      assert.equal(decodeS3Key(encoded), key);
      const [e] = events(parseS3Event(Buffer.from(JSON.stringify({ Records: [record('ObjectCreated:Put', encoded)] }))));
      assert.equal(e!.key, key);
      assert.equal(e!.uri, `s3://docs-bucket/${key}`);
    }
    assert.ok(Buffer.byteLength(keys[4]!) > 1000);
  });

  it('keeps versitygw keys as sent (it does not encode them)', () => {
    const vgw = (key: string) => ({
      ...record('s3:ObjectCreated:Put', key),
      s3: { ...record('', key).s3, configurationId: 'webhook-global' },
    });
    for (const key of ['plus+sign.txt', 'pct%41x.txt', 'a b.txt', '50%.txt']) {
      assert.equal(events(parseS3Event(Buffer.from(JSON.stringify({ Records: [vgw(key)] }))))[0]!.key, key);
    }
    // Told explicitly, the encoding wins over the guess.
    const forced = parseS3Event(Buffer.from(JSON.stringify({ Records: [record('ObjectCreated:Put', 'a+b.txt')] })), {
      keyEncoding: 'raw',
    });
    assert.equal(events(forced)[0]!.key, 'a+b.txt');
  });

  it('turns every created or removed record of a message into an event, in order, and skips other kinds', () => {
    const body = {
      Records: [
        record('ObjectCreated:Put', 'a.txt', { eTag: '"0123abc"', size: 3, sequencer: '0A' }),
        record('s3:ObjectRemoved:Delete', 'b.txt'),
        record('ObjectRestore:Completed', 'c.txt'),
        record('ObjectCreated:CompleteMultipartUpload', 'd.txt', { eTag: 'ffee-2' }),
        record('ObjectRemoved:DeleteMarkerCreated', 'e.txt'),
      ],
    };
    const time = Date.UTC(2025, 0, 31, 12);
    assert.deepEqual(events(parseS3Event(Buffer.from(JSON.stringify(body)))), [
      {
        op: 'upsert',
        uri: 's3://docs-bucket/a.txt',
        bucket: 'docs-bucket',
        key: 'a.txt',
        objectVersion: '0123abc',
        eventTime: time,
      },
      { op: 'delete', uri: 's3://docs-bucket/b.txt', bucket: 'docs-bucket', key: 'b.txt', eventTime: time },
      {
        op: 'upsert',
        uri: 's3://docs-bucket/d.txt',
        bucket: 'docs-bucket',
        key: 'd.txt',
        objectVersion: 'ffee-2',
        eventTime: time,
      },
      { op: 'delete', uri: 's3://docs-bucket/e.txt', bucket: 'docs-bucket', key: 'e.txt', eventTime: time },
    ]);
  });

  it('accepts a bare array of records and yields nothing for the gateway test event', () => {
    assert.equal(events(parseS3Event(Buffer.from(JSON.stringify([record('ObjectCreated:Put', 'x')])))).length, 1);
    assert.deepEqual(events(parseS3Event(Buffer.from(JSON.stringify({ Service: 'S3', Event: 's3:TestEvent' })))), []);
  });

  it('refuses malformed messages, other shapes, bad records and bad escapes', () => {
    assert.equal(rejected(parseS3Event(Buffer.from('nope'))).type, 'MalformedEvent');
    assert.equal(rejected(parseS3Event(null)).type, 'InvalidEvent');
    assert.equal(rejected(parseS3Event(Buffer.from(JSON.stringify({ hello: 1 })))).type, 'UnsupportedSchema');
    const noBucket = rejected(
      parseS3Event(Buffer.from(JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { object: { key: 'k' } } }] }))),
    );
    assert.equal(noBucket.type, 'InvalidEvent');
    assert.match(noBucket.reason, /Records\.0/);
    assert.equal(
      rejected(parseS3Event(Buffer.from(JSON.stringify({ Records: [record('ObjectCreated:Put', '%E0%A4%A')] })))).type,
      'InvalidEvent',
    );
  });
});
