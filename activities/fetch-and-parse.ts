import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform } from 'node:stream';
import { Context } from '@temporalio/activity';
import { heartbeat } from './heartbeat.ts';
import type { DocumentRecord } from '../connectors/ledger/ledger.ts';
import { parseDocument } from '../connectors/parsers/parse.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { killPoint } from '../connectors/shared/kill-points.ts';
import { documentKey } from '../pipeline/ids.ts';
import { pipelineStamp, type PipelineRef } from '../workflows/types.ts';
import { writeChunks } from './chunk.ts';
import { sourceFor, type PipelineDeps } from './deps.ts';
import { eventIso, laterOf } from './ledger.ts';
import type { WorkRef } from './work.ts';
import { metrics, pipelineLabel } from '../connectors/shared/metrics.ts';

export type FetchResult =
  | { kind: 'parsed'; work: WorkRef; chunks: number; tokens: number }
  | { kind: 'unchanged'; chunks: number }
  | { kind: 'stale' }
  | { kind: 'gone' };

export interface FetchInput {
  pipeline: PipelineRef;
  sourceUri: string;
  /** The object version the listing or the event saw; without one the object is HEADed first. */
  sourceVersion?: string;
  /**
   * When the event being applied happened (ms). Older than the ledger's last applied event, with the object unchanged
   * since (a HEAD says), means stale: nothing is read or written.
   */
  eventTime?: number;
  /** Read and chunk the object even when the ledger says it is up to date (reconciliation repairs a sink). */
  repair?: boolean;
}

/** Whether the ledger's record says this version of the object is fully ingested at this pipeline stamp. */
function upToDate(prev: DocumentRecord | undefined, pipeline: PipelineRef, objectVersion: string | undefined): boolean {
  return (
    prev !== undefined &&
    prev.status !== 'deleted' &&
    prev.status !== 'failed' &&
    prev.status !== 'cancelled' &&
    prev.pipelineVersion === pipelineStamp(pipeline) &&
    pipeline.sinks.every((s) => prev.sinks[s]?.state === 'ok') &&
    (objectVersion === undefined || prev.sourceVersion === objectVersion)
  );
}

/**
 * Streams the source object through a hash, the parser and the chunker into a chunks file in the blob store, in one
 * pass: the parsed text never sits in memory or on disk whole. Before any byte is read, the object's version (from
 * the listing, the event or a HEAD) is compared with the ledger's: an unchanged object is not downloaded. After
 * reading, equal bytes under a new version are `unchanged` too (and the new version is recorded).
 */
export async function fetchAndParse(deps: PipelineDeps, input: FetchInput): Promise<FetchResult> {
  const { pipeline, sourceUri } = input;
  const ctx = Context.current();
  const source = sourceFor(deps, sourceUri);
  const prev = await deps.ledger.get(pipeline.tenant, sourceUri);
  // An event older than the one the ledger last applied is ignored unless the object changed since: producers' clocks
  // differ, so a HEAD (never a GET) decides, and a changed object is read whatever its event's time says.
  const stale = !input.repair && input.eventTime !== undefined && !!prev?.eventAt && input.eventTime < Date.parse(prev.eventAt);
  let opened: Awaited<ReturnType<typeof source.open>>;
  try {
    const askHead = stale || input.sourceVersion === undefined;
    const version =
      !input.repair && askHead && prev && upToDate(prev, pipeline, undefined)
        ? (await source.stat(sourceUri)).version
        : input.sourceVersion;
    if (!input.repair && version !== undefined && upToDate(prev, pipeline, version)) {
      if (stale) return { kind: 'stale' };
      await noteEvent(deps, prev!, version, input.eventTime);
      metrics.documents.inc({ pipeline: pipelineLabel(pipeline), outcome: 'unchanged', failure_type: '' });
      return { kind: 'unchanged', chunks: prev!.chunkIds.length };
    }
    opened = await source.open(sourceUri);
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
        heartbeat({ bytes });
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

  if (!input.repair && prev && upToDate(prev, pipeline, undefined) && prev.contentHash === contentHash) {
    await deps.blobs.deletePrefix(`${prefix}/`);
    // Same bytes under a new version (a touch, a copy onto itself): remember the version so the next run skips the GET.
    await noteEvent(deps, prev, opened.version, input.eventTime);
    metrics.documents.inc({ pipeline: pipelineLabel(pipeline), outcome: 'unchanged', failure_type: '' });
    return { kind: 'unchanged', chunks: prev.chunkIds.length };
  }
  const eventAt = eventIso(input.eventTime);
  killPoint('fetch.after-chunks-written');
  metrics.chunks.inc({ pipeline: pipelineLabel(pipeline) }, chunks);
  metrics.tokens.inc({ pipeline: pipelineLabel(pipeline) }, tokens);
  return {
    kind: 'parsed',
    work: {
      prefix,
      contentHash,
      bytes,
      chunksKey,
      textKey,
      chunks,
      tokens,
      sourceVersion: opened.version,
      ...(eventAt ? { eventAt } : {}),
    },
    chunks,
    tokens,
  };
}

/** Records a new object version or a newer event time on an unchanged document (no write when neither changed). */
async function noteEvent(
  deps: PipelineDeps,
  prev: DocumentRecord,
  objectVersion: string,
  eventTime: number | undefined,
): Promise<void> {
  const eventAt = laterOf(prev.eventAt, eventIso(eventTime));
  if (eventAt === prev.eventAt && prev.sourceVersion === objectVersion) return;
  await deps.ledger.put({
    ...prev,
    sourceVersion: objectVersion,
    eventAt,
    updatedAt: new Date().toISOString(),
  });
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
