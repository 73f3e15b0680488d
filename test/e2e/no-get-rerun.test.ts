import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { countS3Requests, markS3AccessLog } from '../support/s3-tools.ts';
import { Harness } from './support.ts';

// Unchanged work is skipped before a byte is downloaded: the listing's ETag equals the ledger's at the same pipeline
// stamp. Counted at the S3 server itself (its access log), not through our own client.

const OBJECTS = 150;

describe('a re-run over unchanged objects reads none of them', () => {
  // The hash embedder keeps 150 documents fast; what is counted here is source traffic, not embedding.
  const h = new Harness({ embedder: { kind: 'hash', dims: 64 }, concurrency: { documents: 16, pageSize: 50 } });
  before(async () => {
    await h.start();
    await Promise.all(
      Array.from({ length: OBJECTS }, (_, i) =>
        h.put(`docs/${String(i).padStart(3, '0')}.txt`, `Document ${i}. `.repeat(20 + (i % 7))),
      ),
    );
  });
  after(async () => {
    await h.dropIndexes();
    await h.stop();
  });

  it('the first run GETs each object once; the re-run makes zero GETs (the sweep HEADs each object once)', async () => {
    let mark = markS3AccessLog();
    const first = await h.ingestAll('docs/');
    assert.deepEqual([first.listed, first.ingested, first.failed], [OBJECTS, OBJECTS, 0]);
    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket: h.bucket }), OBJECTS);

    mark = markS3AccessLog();
    const again = await h.ingestAll('docs/');
    assert.deepEqual([again.listed, again.unchanged, again.ingested], [OBJECTS, OBJECTS, 0]);
    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket: h.bucket }), 0);
    // The sweep checks that every known object still exists with a HEAD: one per document, never a GET.
    assert.equal(countS3Requests(mark, { operation: 'HeadObject', bucket: h.bucket }), OBJECTS);
  });

  it('after one object changes, the next run GETs exactly that one', async () => {
    await h.put('docs/007.txt', 'A changed document. '.repeat(30));
    const mark = markS3AccessLog();
    const run = await h.ingestAll('docs/');
    assert.deepEqual([run.ingested, run.unchanged], [1, OBJECTS - 1]);
    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket: h.bucket }), 1);
    assert.equal(countS3Requests(mark, { operation: 'GetObject', bucket: h.bucket, key: 'docs/007.txt' }), 1);
  });
});
