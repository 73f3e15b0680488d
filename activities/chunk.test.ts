import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLocalDirBlobStore } from '../connectors/blobstore/local-dir.ts';
import type { Chunker } from '../connectors/chunkers/chunker.ts';
import { createChunker } from '../connectors/chunkers/index.ts';
import { createWhitespaceTokenCounter } from '../connectors/chunkers/whitespace-counter.ts';
import type { PipelineRef } from '../workflows/types.ts';
import { writeChunks } from './chunk.ts';
import type { PipelineDeps } from './deps.ts';
import { readChunks, type ChunkLine } from './work.ts';

const root = await mkdtemp(join(tmpdir(), 'ragline-chunk-lines-'));
const blobs = createLocalDirBlobStore({ root });
after(async () => {
  await blobs.close();
  await rm(root, { recursive: true, force: true });
});

const pipeline = { name: 'p', version: 1, tenant: 't' } as PipelineRef;

async function* pieces(text: string): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += 7) yield text.slice(i, i + 7);
}

async function lines(chunker: Chunker, text: string, key: string): Promise<ChunkLine[]> {
  const deps = { blobs, chunker } as PipelineDeps;
  await new MockActivityEnvironment().run(writeChunks, deps, { pipeline, sourceUri: 'file:///doc.md', key, text: pieces(text) });
  const out: ChunkLine[] = [];
  for await (const line of readChunks(blobs, key)) out.push(line);
  return out;
}

describe('chunk lines', () => {
  const counter = createWhitespaceTokenCounter();
  const doc = [
    'Preamble before any heading.',
    '',
    '# Guide',
    '',
    'Intro text of the guide.',
    '',
    '## Install > upgrade',
    '',
    'Run the installer.',
    '',
  ].join('\n');

  it('carry the heading path of a Markdown chunk, and none where the chunk sits before every heading', async () => {
    const chunker = createChunker({ kind: 'markdown', chunkSize: 8, chunkOverlap: 0 }, counter, {});
    const got = await lines(chunker, doc, 'md/chunks.jsonl');
    assert.ok(got.length >= 3, `expected a chunk per section, got ${got.length}`);
    for (const l of got) assert.equal(l.text, doc.slice(l.start, l.end));
    const preamble = got.find((l) => l.text.includes('Preamble'))!;
    assert.equal('headings' in preamble, false, 'no key at all for a chunk without headings');
    assert.deepEqual(got.find((l) => l.text.includes('Intro'))?.headings, ['Guide']);
    assert.deepEqual(got.find((l) => l.text.includes('installer'))?.headings, ['Guide', 'Install > upgrade']);
  });

  it('leave headings out for chunkers that have none', async () => {
    const chunker = createChunker({ kind: 'recursive', chunkSize: 8, chunkOverlap: 0 }, counter, {});
    const got = await lines(chunker, doc, 'plain/chunks.jsonl');
    assert.ok(got.length > 1);
    assert.ok(got.every((l) => !('headings' in l)));
  });
});
