/**
 * The events the trigger accepts, validated once here at the edge.
 *
 * 1. Our own document event, JSON, versioned by its `schema` field (a v2 would get its own parser beside v1):
 *
 *    { "schema": "ragline.document-event/v1",
 *      "op": "upsert" | "delete",
 *      "uri": "s3://bucket/key" | "file:///absolute/path",   // the key as stored, not URL-encoded
 *      "tenant": "acme",                                       // optional: the pipeline's tenant when absent
 *      "pipeline": "docs",                                     // optional: every pipeline on the topic when absent
 *      "objectVersion": "9b2cf535f27731c974343645a3985328",    // optional: ETag or other version marker
 *      "timestamp": "2025-01-31T12:00:00Z" | 1738324800000 }   // optional: ISO-8601 with offset, or epoch ms
 *
 *    Fields this version does not know are ignored, so producers may add some before consumers upgrade. A tombstone
 *    (null value) whose key is the uri deletes the document; headers `ragline-tenant` and `ragline-pipeline` may
 *    narrow it, since a tombstone has no body to carry them. Produce with the uri as the key either way: one document's
 *    events then share a partition and stay in order.
 *
 * 2. S3 event notifications as AWS documents them ({ "Records": [...] }), as MinIO and versitygw v1.7.0 send them,
 *    and as bare arrays of records (what versitygw's later sources marshal). versitygw also sends a
 *    `{ "Event": "s3:TestEvent" }` message when it starts: it carries no object and yields no event.
 *    Object keys: see S3KeyEncoding.
 */
import { z } from 'zod';

export const DOCUMENT_EVENT_V1 = 'ragline.document-event/v1';

/** Why an event was refused: the `ragline-dlq-type` header of its dead letter. */
export const RejectionType = {
  /** Not JSON, not UTF-8, or an empty message. */
  MalformedEvent: 'MalformedEvent',
  /** JSON with a `schema` this trigger does not know, or a shape that is neither ours nor S3's. */
  UnsupportedSchema: 'UnsupportedSchema',
  /** A known schema with missing or invalid fields. */
  InvalidEvent: 'InvalidEvent',
  /** Valid, but no served pipeline version declares it (unknown pipeline, tenant, bucket or prefix). */
  UnroutableEvent: 'UnroutableEvent',
  /** Temporal refused the signal for this event as invalid (e.g. an id it cannot take). */
  RejectedByTemporal: 'RejectedByTemporal',
} as const;
export type RejectionType = (typeof RejectionType)[keyof typeof RejectionType];

export interface Rejection {
  type: RejectionType;
  reason: string;
}

/** One change to one document, whatever format it came in. */
export interface DocumentEvent {
  op: 'upsert' | 'delete';
  uri: string;
  tenant?: string;
  pipeline?: string;
  objectVersion?: string;
  /** ms since the epoch. */
  eventTime?: number;
}

/** An S3 notification record, with the bucket and decoded key the router matches on. */
export interface S3DocumentEvent extends DocumentEvent {
  bucket: string;
  key: string;
}

export type ParseResult<E> = { ok: true; events: E[] } | { ok: false; rejection: Rejection };

// Same rule as the pipeline spec's tenant, so an event can never name a tenant no spec could have.
const tenant = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)');
const pipeline = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a pipeline name');
// Uris are raw (spaces and all), so they are matched, not URL-parsed. S3 keys stop at 1,024 bytes.
const uri = z
  .string()
  .max(4096)
  .regex(/^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+|file:\/\/\/.+)$/s, 'an s3://bucket/key or file:///path uri');

const DocumentEventV1 = z.object({
  schema: z.literal(DOCUMENT_EVENT_V1),
  op: z.enum(['upsert', 'delete']),
  uri,
  tenant: tenant.optional(),
  pipeline: pipeline.optional(),
  objectVersion: z.string().min(1).max(1024).optional(),
  timestamp: z.union([z.iso.datetime({ offset: true }), z.number().int().min(0)]).optional(),
});

const issues = (err: z.ZodError): string =>
  err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');

const reject = <E>(type: RejectionType, reason: string): ParseResult<E> => ({ ok: false, rejection: { type, reason } });

function parseJson<E>(value: Buffer): { ok: true; json: unknown } | { ok: false; result: ParseResult<E> } {
  if (value.length === 0) return { ok: false, result: reject(RejectionType.MalformedEvent, 'empty message') };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    return { ok: false, result: reject(RejectionType.MalformedEvent, 'not UTF-8') };
  }
  try {
    return { ok: true, json: JSON.parse(text) };
  } catch (err) {
    return { ok: false, result: reject(RejectionType.MalformedEvent, `not JSON: ${(err as Error).message}`) };
  }
}

/** Parses one message of a document-event topic: our JSON schema, or a tombstone keyed by the uri. */
export function parseDocumentEvent(msg: {
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | undefined>;
}): ParseResult<DocumentEvent> {
  if (msg.value === null) return parseTombstone(msg.key, msg.headers ?? {});
  const parsed = parseJson<DocumentEvent>(msg.value);
  if (!parsed.ok) return parsed.result;
  const json = parsed.json;
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return reject(RejectionType.UnsupportedSchema, 'not a JSON object');
  const schema = (json as { schema?: unknown }).schema;
  if (schema === undefined) return reject(RejectionType.UnsupportedSchema, `no "schema" field (expected ${DOCUMENT_EVENT_V1})`);
  if (schema !== DOCUMENT_EVENT_V1)
    return reject(RejectionType.UnsupportedSchema, `unknown schema ${JSON.stringify(schema)} (expected ${DOCUMENT_EVENT_V1})`);
  const res = DocumentEventV1.safeParse(json);
  if (!res.success) return reject(RejectionType.InvalidEvent, issues(res.error));
  const e = res.data;
  const eventTime = typeof e.timestamp === 'string' ? Date.parse(e.timestamp) : e.timestamp;
  return {
    ok: true,
    events: [
      {
        op: e.op,
        uri: e.uri,
        ...(e.tenant !== undefined ? { tenant: e.tenant } : {}),
        ...(e.pipeline !== undefined ? { pipeline: e.pipeline } : {}),
        ...(e.objectVersion !== undefined ? { objectVersion: e.objectVersion } : {}),
        ...(eventTime !== undefined ? { eventTime } : {}),
      },
    ],
  };
}

function parseTombstone(key: Buffer | null, headers: Record<string, Buffer | undefined>): ParseResult<DocumentEvent> {
  if (key === null || key.length === 0)
    return reject(RejectionType.InvalidEvent, 'tombstone without a key (the key must be the uri)');
  const fields = {
    uri: key.toString('utf8'),
    tenant: headers['ragline-tenant']?.toString('utf8'),
    pipeline: headers['ragline-pipeline']?.toString('utf8'),
  };
  const res = z.object({ uri, tenant: tenant.optional(), pipeline: pipeline.optional() }).safeParse(fields);
  if (!res.success) return reject(RejectionType.InvalidEvent, `tombstone: ${issues(res.error)}`);
  const { tenant: t, pipeline: p } = res.data;
  return {
    ok: true,
    events: [
      { op: 'delete', uri: res.data.uri, ...(t !== undefined ? { tenant: t } : {}), ...(p !== undefined ? { pipeline: p } : {}) },
    ],
  };
}

const S3Record = z.object({
  eventName: z.string().min(1),
  eventTime: z.string().optional(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      eTag: z.string().nullish(),
      versionId: z.string().nullish(),
      sequencer: z.string().nullish(),
      size: z.number().nullish(),
    }),
    configurationId: z.string().nullish(),
  }),
});

/**
 * How a notification writes object keys.
 * - `url`: as AWS documents (and MinIO does): URL-encoded the way HTML forms are, a space as `+`, a literal `+` as
 *   `%2B`, other bytes as %XX of their UTF-8.
 * - `raw`: the key itself. versitygw v1.7.0, our local S3 server, does this: putting `a b/c d.txt`, `plus+sign.txt`,
 *   `pct%41x.txt`, Unicode and 1,000+ byte keys through @aws-sdk/client-s3 and reading its Kafka events showed each
 *   key verbatim (a bare `+` and a literal `%41` included), so URL-decoding its keys would corrupt them.
 * - `auto` (the default): `raw` for versitygw's events, recognised by its fixed configuration ids
 *   (`kafka-global`, `nats-global`, `webhook-global`, `rabbitmq-global`), `url` for everything else.
 */
export const S3KeyEncoding = z.enum(['auto', 'url', 'raw']);
export type S3KeyEncoding = z.infer<typeof S3KeyEncoding>;

const VERSITYGW_CONFIGURATION_ID = /^(kafka|nats|webhook|rabbitmq)-global$/;

/** Decodes an AWS-encoded key: `+` first, then the escapes, so `+`, `%2B`, spaces and UTF-8 come back exactly. */
export function decodeS3Key(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

/** Parses one message of an S3 event topic into one event per created or removed object it reports. */
export function parseS3Event(value: Buffer | null, opts: { keyEncoding?: S3KeyEncoding } = {}): ParseResult<S3DocumentEvent> {
  if (value === null) return reject(RejectionType.InvalidEvent, 'a tombstone on an S3 event topic');
  const parsed = parseJson<S3DocumentEvent>(value);
  if (!parsed.ok) return parsed.result;
  const json = parsed.json as { Records?: unknown; Event?: unknown } | unknown[] | null;
  // A gateway's "I can publish" probe carries no object.
  if (json && !Array.isArray(json) && typeof json === 'object' && json.Event === 's3:TestEvent') return { ok: true, events: [] };
  const records = Array.isArray(json) ? json : json && typeof json === 'object' ? json.Records : undefined;
  if (!Array.isArray(records)) return reject(RejectionType.UnsupportedSchema, 'not an S3 event notification (no Records array)');
  const events: S3DocumentEvent[] = [];
  for (const [i, raw] of records.entries()) {
    const res = S3Record.safeParse(raw);
    if (!res.success) return reject(RejectionType.InvalidEvent, `Records.${i}: ${issues(res.error)}`);
    const r = res.data;
    // AWS writes `ObjectCreated:Put`, MinIO and versitygw `s3:ObjectCreated:Put`.
    const name = r.eventName.replace(/^s3:/, '');
    const op = name.startsWith('ObjectCreated:') ? 'upsert' : name.startsWith('ObjectRemoved:') ? 'delete' : undefined;
    // Restores, ACL and tagging changes, replication and lifecycle transitions leave the bytes as they were.
    if (op === undefined) continue;
    const encoding =
      opts.keyEncoding && opts.keyEncoding !== 'auto'
        ? opts.keyEncoding
        : VERSITYGW_CONFIGURATION_ID.test(r.s3.configurationId ?? '')
          ? 'raw'
          : 'url';
    let key: string;
    try {
      key = encoding === 'raw' ? r.s3.object.key : decodeS3Key(r.s3.object.key);
    } catch {
      return reject(RejectionType.InvalidEvent, `Records.${i}: the object key is not URL-encoded UTF-8`);
    }
    const bucket = r.s3.bucket.name;
    const eventTime = r.eventTime === undefined ? undefined : Date.parse(r.eventTime);
    // Quotes dropped as in connectors/sources/s3.ts etagVersion(), so an event's version equals the lister's.
    const etag = r.s3.object.eTag?.replace(/"/g, '') || undefined;
    events.push({
      op,
      uri: `s3://${bucket}/${key}`,
      bucket,
      key,
      ...(op === 'upsert' && etag ? { objectVersion: etag } : {}),
      ...(eventTime !== undefined && !Number.isNaN(eventTime) ? { eventTime } : {}),
    });
  }
  return { ok: true, events };
}
