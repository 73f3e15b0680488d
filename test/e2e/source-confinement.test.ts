// Workers read only what the pipeline's source settings allow: file:// under source.local.roots (default: the spec's
// folder), s3:// under source.s3.buckets. Anything else ends the document as the non-retryable SourceForbidden,
// through the whole pipeline, with nothing read and nothing written to a sink.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Harness } from './support.ts';

describe('source confinement through the pipeline', () => {
  const h = new Harness();
  let docs: string;
  before(async () => {
    await h.start();
    docs = join(h.dataDir, 'docs');
    mkdirSync(docs);
    writeFileSync(join(docs, 'inside.md'), '# Inside\n\nA document inside the allowed folder, about harbour cranes.');
    symlinkSync('/etc/hostname', join(docs, 'link-out.md'));
  });
  after(() => h.stop());

  // Were SourceForbidden retried, these outcomes would wait out the retry policy and the test would time out.
  it('ingests inside the roots and refuses /etc/passwd, a .. climb and a link out, typed, without retries', async () => {
    const inside = await h.client.ingestDocument(pathToFileURL(join(docs, 'inside.md')).href);
    assert.equal(inside.status, 'ingested');
    assert.ok(inside.chunks > 0);

    for (const uri of [
      'file:///etc/passwd',
      `${pathToFileURL(docs).href}/../../../etc/passwd`,
      pathToFileURL(join(docs, 'link-out.md')).href,
    ]) {
      const out = await h.client.ingestDocument(uri);
      assert.equal(out.status, 'failed', uri);
      assert.equal(out.error?.type, 'SourceForbidden', `${uri}: ${out.error?.message}`);
      assert.match(out.error!.message, /source\.local\.roots/);
      assert.equal(out.chunks, 0);
    }
    const passwd = await h.ledger.get(h.spec.tenant, 'file:///etc/passwd');
    assert.equal(passwd?.status, 'failed');
    assert.equal(passwd?.lastError?.type, 'SourceForbidden');
    assert.deepEqual(await h.sink.idsOfDocument(h.index, h.spec.tenant, 'file:///etc/passwd'), []);
  });

  it('narrowed to a bucket prefix, reads there and refuses the rest of the bucket', async () => {
    await h.put('allowed/a.md', '# Allowed\n\nThis one may be read: a note on tide tables.');
    await h.put('private/b.md', '# Private\n\nThis one may not.');
    await h.upgrade({ source: { s3: { buckets: [`${h.bucket}/allowed/`] } } });
    assert.equal((await h.client.ingestDocument(h.uri('allowed/a.md'))).status, 'ingested');
    const refused = await h.client.ingestDocument(h.uri('private/b.md'));
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error?.type, 'SourceForbidden');
    assert.match(refused.error!.message, /source\.s3\.buckets/);
    assert.deepEqual(await h.sink.idsOfDocument(h.index, h.spec.tenant, h.uri('private/b.md')), []);
  });
});
