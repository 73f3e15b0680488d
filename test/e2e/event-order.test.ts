import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { pipelineRef } from '../../pipeline/ref.ts';
import { applyDocumentEvent, signalDocument } from '../../sdk/documents.ts';
import { Harness } from './support.ts';

// Events are change notices: each is applied by reading the source, the newest wins, and one older than what the
// ledger last applied changes nothing.

describe('document events: versions, order and duplicates', () => {
  const h = new Harness();
  const key = 'notes/a b+c é.txt';
  before(async () => {
    await h.start();
    await h.put(key, 'First text about lighthouses and their keepers. '.repeat(8));
  });
  after(() => h.stop());

  const etag = async () =>
    ((await h.s3.send(new HeadObjectCommand({ Bucket: h.bucket, Key: key }))).ETag ?? '').replace(/"/g, '');

  it('records the object version and event time; the same version again is skipped before reading', async () => {
    const ref = pipelineRef(h.spec);
    const t0 = Date.parse('2026-06-01T00:00:00Z');
    const first = await applyDocumentEvent(h.client.temporal, ref, h.uri(key), { kind: 'upsert', eventTime: t0 });
    assert.equal(first.status, 'ingested');
    const rec = await h.ledger.get(h.spec.tenant, h.uri(key));
    assert.equal(rec?.sourceVersion, await etag());
    assert.equal(rec?.eventAt, new Date(t0).toISOString());
    const again = await applyDocumentEvent(h.client.temporal, ref, h.uri(key), {
      kind: 'upsert',
      sourceVersion: await etag(),
      eventTime: t0 + 1000,
    });
    assert.equal(again.status, 'unchanged');
    assert.equal((await h.ledger.get(h.spec.tenant, h.uri(key)))?.eventAt, new Date(t0 + 1000).toISOString());
  });

  it('an event older than the last applied one is ignored; an object that changed since is read whatever the clock says', async () => {
    const ref = pipelineRef(h.spec);
    const before = (await h.sinkIds(key)).join();
    const stale = await applyDocumentEvent(h.client.temporal, ref, h.uri(key), {
      kind: 'upsert',
      eventTime: Date.parse('2026-05-01T00:00:00Z'),
    });
    assert.equal(stale.status, 'unchanged');
    assert.equal((await h.sinkIds(key)).join(), before, 'a stale event writes nothing');
    // A producer whose clock runs behind: its event looks old, but the object did change, so it is applied.
    await h.put(key, 'Second text, now about harbours and tides instead. '.repeat(8));
    const skewed = await applyDocumentEvent(h.client.temporal, ref, h.uri(key), {
      kind: 'upsert',
      eventTime: Date.parse('2026-05-02T00:00:00Z'),
    });
    assert.equal(skewed.status, 'ingested');
    const rec = await h.ledger.get(h.spec.tenant, h.uri(key));
    assert.equal(rec?.sourceVersion, await etag());
    assert.equal(rec?.eventAt, new Date(Date.parse('2026-06-01T00:00:01Z')).toISOString(), 'the newest event time stays');
    assert.deepEqual(await h.sinkIds(key), [...rec!.chunkIds].sort());
  });

  it('a burst of duplicate events for one document is applied by one run, and the document ends as the source is', async () => {
    const ref = pipelineRef(h.spec);
    await h.put(key, 'Third text: about maps, charts and soundings. '.repeat(8));
    const t = Date.parse('2026-08-01T00:00:00Z');
    const handles = [];
    for (let i = 0; i < 10; i++) {
      handles.push(await signalDocument(h.client.temporal, ref, h.uri(key), { kind: 'upsert', eventTime: t + i }));
    }
    const runs = new Set(handles.map((x) => x.signaledRunId));
    assert.equal(runs.size, 1, 'every signal joined the running workflow');
    // The first event starts a pass at once; the nine that arrive meanwhile collapse into at most one more pass.
    const out = (await handles[0]!.result()) as { status: string };
    assert.ok(['ingested', 'unchanged'].includes(out.status), out.status);
    const state = await handles[0]!.query<{ applied: number }>('state');
    assert.equal(state.applied, 10);
    const rec = await h.ledger.get(h.spec.tenant, h.uri(key));
    assert.equal(rec?.eventAt, new Date(t + 9).toISOString());
    assert.deepEqual(await h.sinkIds(key), [...rec!.chunkIds].sort());
  });
});
