import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { ObjectStat, OpenedObject, Source, SourcePage } from './source.ts';

export const S3SourceConfig = z.object({
  endpoint: z.string().url().optional(),
  region: z.string().default('us-east-1'),
  accessKeyId: z.string().optional(),
  secretAccessKey: z.string().optional(),
  forcePathStyle: z.boolean().default(true),
  /**
   * The buckets, or `bucket/prefix`es, this source may read; anything else is refused with SourceForbidden before a
   * request is sent. `*` allows every bucket the credentials reach. Undefined: no confinement (tools only; pipelines
   * always pass their `source.s3.buckets`).
   */
  buckets: z.array(z.string().min(1)).optional(),
});
export type S3SourceConfig = z.input<typeof S3SourceConfig>;

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new ConnectorError(FailureType.InvalidInput, `not an s3:// uri: ${uri}`);
  return { bucket: m[1]!, key: m[2]! };
}

/** Objects under an `s3://bucket/prefix`, paged with ListObjectsV2 continuation tokens. */
export function createS3Source(input: S3SourceConfig): Source {
  const config = S3SourceConfig.parse(input);
  const allow = config.buckets ? s3Confinement(config.buckets) : () => {};
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    // Temporal retries the activity; SDK retries underneath would multiply the attempts.
    maxAttempts: 1,
    ...(config.accessKeyId && config.secretAccessKey
      ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
      : {}),
  });
  return {
    handles: (uri) => uri.startsWith('s3://'),

    async list(prefixUri, { cursor, pageSize }): Promise<SourcePage> {
      const { bucket, key: prefix } = parseS3Uri(prefixUri);
      allow(bucket, prefix);
      const res = await client
        .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: cursor, MaxKeys: pageSize }))
        .catch((err: unknown) => mapS3Error(err, prefixUri));
      const items = (res.Contents ?? [])
        .filter((o) => o.Key && !o.Key.endsWith('/'))
        .map((o) => ({ uri: `s3://${bucket}/${o.Key}`, size: o.Size ?? 0, version: etagVersion(o.ETag) }));
      return res.IsTruncated && res.NextContinuationToken ? { items, cursor: res.NextContinuationToken } : { items };
    },

    async open(uri): Promise<OpenedObject> {
      const { bucket, key } = parseS3Uri(uri);
      allow(bucket, key);
      const res = await client
        .send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        .catch((err: unknown) => mapS3Error(err, uri));
      return {
        body: res.Body as Readable,
        size: res.ContentLength ?? 0,
        contentType: res.ContentType,
        filename: key.split('/').pop() ?? key,
        version: etagVersion(res.ETag),
      };
    },

    async stat(uri): Promise<ObjectStat> {
      const { bucket, key } = parseS3Uri(uri);
      allow(bucket, key);
      const res = await client
        .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
        .catch((err: unknown) => mapS3Error(err, uri));
      return { size: res.ContentLength ?? 0, version: etagVersion(res.ETag) };
    },

    async close() {
      client.destroy();
    },
  };
}

/**
 * Refuses keys (or listing prefixes) outside the allowed `bucket` or `bucket/prefix` entries. S3 keys are plain strings
 * (`..` means nothing to S3), so an exact prefix comparison is the whole check.
 */
function s3Confinement(entries: string[]): (bucket: string, key: string) => void {
  const rules = entries.map((e) => {
    const at = e.indexOf('/');
    return at < 0 ? { bucket: e, prefix: '' } : { bucket: e.slice(0, at), prefix: e.slice(at + 1) };
  });
  return (bucket, key) => {
    if (rules.some((r) => r.bucket === '*' || (r.bucket === bucket && key.startsWith(r.prefix)))) return;
    throw new ConnectorError(
      FailureType.SourceForbidden,
      `s3://${bucket}/${key} is outside the pipeline's allowed buckets (source.s3.buckets: ${entries.join(', ') || 'none'})`,
    );
  };
}

/** An ETag as listings, GETs, HEADs and event notifications all compare: without the quotes some of them add. */
export function etagVersion(etag: string | undefined): string {
  return (etag ?? '').replace(/"/g, '');
}

/** The one place S3 failures become typed connector errors. */
export function mapS3Error(err: unknown, what: string): never {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode ?? 0;
    if (err.name === 'NoSuchKey' || err.name === 'NoSuchBucket' || status === 404)
      throw new ConnectorError(FailureType.NotFound, `${what}: ${err.name}`, { cause: err });
    if (status === 403)
      throw new ConnectorError(FailureType.InvalidInput, `${what}: access denied (${err.name})`, { cause: err });
    if (status === 429 || err.name === 'SlowDown')
      throw new ConnectorError(FailureType.RateLimited, `${what}: ${err.name}`, { cause: err });
    throw new ConnectorError(FailureType.Unavailable, `${what}: ${err.name} (${status})`, { cause: err });
  }
  throw new ConnectorError(FailureType.Unavailable, `${what}: ${(err as Error).message}`, { cause: err });
}
