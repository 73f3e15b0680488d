import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform } from 'node:stream';
import { Context } from '@temporalio/activity';
import { parseDocument } from '../connectors/parsers/parse.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { documentKey } from '../pipeline/ids.ts';
import { pipelineStamp, type PipelineRef } from '../workflows/types.ts';
import { writeChunks } from './chunk.ts';
import { sourceFor, type PipelineDeps } from './deps.ts';
import type { WorkRef } from './work.ts';

export type FetchResult =
  { kind: 'parsed'; work: WorkRef; chunks: number; tokens: number } | { kind: 'unchanged'; chunks: number } | { kind: 'gone' };

/**
 * Streams the source object through a hash, the parser and the chunker into a chunks file in the blob store, in one
 * pass: the parsed text never sits in memory or on disk whole. Returns `unchanged` when the bytes, the pipeline
 * version and every sink's state say there is nothing to do.
 */
export async function fetchAndParse(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string },
): Promise<FetchResult> {
  const { pipeline, sourceUri } = input;
  const ctx = Context.current();
  let opened;
  try {
    opened = await sourceFor(deps, sourceUri).open(sourceUri);
  } catch (err) {
    if (err instanceof ConnectorError && err.type === FailureType.NotFound) return { kind: 'gone' };
    throw err;
  }
  if (opened.size > deps.limits.maxBytes) {
    opened.body.destroy();
    throw new ConnectorError(
      FailureType.DocumentTooLarge,
      `${opened.filename} is ${opened.size} bytes, over the limit of ${deps.limits.maxBytes}`,
    );
  }
  const hash = createHash('sha256');
  let bytes = 0;
  let lastBeat = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes - lastBeat > 8 * 1024 * 1024) {
        lastBeat = bytes;
        ctx.heartbeat({ bytes });
      }
      cb(null, chunk);
    },
  });
  opened.body.on('error', (err) => tap.destroy(err));
  const body = opened.body.pipe(tap).pipe(new PassThrough());

  const prefix = `work/${pipeline.tenant}/${documentKey(pipeline.tenant, sourceUri)}/${ctx.info.workflowExecution?.runId ?? ctx.info.activityId}`;
  const chunksKey = `${prefix}/chunks.jsonl`;
  const parsed = await parseDocument(
    { body, filename: opened.filename, contentType: opened.contentType, size: opened.size },
    deps.limits,
  );
  const late = deps.spec.lateChunking;
  const textKey = late ? `${prefix}/text.txt` : undefined;
  const text = textKey && late ? keepText(deps, textKey, parsed.text, late.maxChars, opened.filename) : undefined;
  const { chunks, tokens } = await writeChunks(deps, { pipeline, sourceUri, key: chunksKey, text: text?.pieces ?? parsed.text });
  await text?.stored;
  await parsed.meta;
  const contentHash = hash.digest('hex');

  const prev = await deps.ledger.get(pipeline.tenant, sourceUri);
  const sinksOk = pipeline.sinks.every((s) => prev?.sinks[s]?.state === 'ok');
  if (
    prev &&
    prev.status !== 'deleted' &&
    prev.status !== 'failed' &&
    prev.contentHash === contentHash &&
    prev.pipelineVersion === pipelineStamp(pipeline) &&
    sinksOk
  ) {
    await deps.blobs.deletePrefix(`${prefix}/`);
    return { kind: 'unchanged', chunks: prev.chunkIds.length };
  }
  return { kind: 'parsed', work: { prefix, contentHash, bytes, chunksKey, textKey, chunks, tokens }, chunks, tokens };
}

/**
 * Passes the text through to the chunker while writing it to `key` (with backpressure), for late chunking. The embed
 * step holds one document's text whole, so a text over `maxChars` fails the document instead of the worker.
 */
function keepText(
  deps: PipelineDeps,
  key: string,
  pieces: AsyncIterable<string>,
  maxChars: number,
  filename: string,
): { pieces: AsyncIterable<string>; stored: Promise<unknown> } {
  const out = new PassThrough();
  const stored = deps.blobs.put(key, out);
  stored.catch(() => undefined);
  async function* tee(): AsyncGenerator<string> {
    let chars = 0;
    let complete = false;
    try {
      for await (const piece of pieces) {
        chars += piece.length;
        if (chars > maxChars) {
          throw new ConnectorError(
            FailureType.DocumentTooLarge,
            `${filename}: late chunking holds a document whole, and this one has over ${maxChars} characters (lateChunking.maxChars)`,
          );
        }
        if (!out.write(piece)) await once(out, 'drain');
        yield piece;
      }
      complete = true;
      out.end();
    } finally {
      // Stopped early (an error here or in the chunker): the partial text must not be stored as if whole.
      if (!complete) out.destroy(new Error('text stream stopped before its end'));
    }
  }
  return { pieces: tee(), stored };
}
