import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { BlobBody, BlobStore } from './blobstore.ts';
import { bodyChunks, type BodyTally, validateKey, validatePrefix } from './keys.ts';

// Key layout: S3 itself lets `a` and `a/b` coexist, but versitygw's POSIX backend (the local stack) stores keys as
// files, so it refuses `a/b` while `a` exists (409 ObjectParentIsFile) and `a` while `a/b` exists (409
// ExistingObjectIsDirectory); so does the local-dir store. Artifact keys therefore always end in a file-like leaf
// (`<tenant>/<doc>/<version>/chunks.jsonl`), never a name that other keys use as their folder. A collision is a layout bug,
// reported as InvalidInput.

export const S3BlobStoreConfig = z
  .object({
    /** Unset for AWS; the server's URL for S3-compatible stores (versitygw, MinIO). */
    endpoint: z.url().optional(),
    region: z.string().min(1),
    bucket: z.string().min(3).max(63),
    /** Keys live under `<prefix>/` so one bucket can hold several deployments' artifacts. */
    prefix: z.string().optional(),
    /** Unset: the SDK's default credential chain (instance role, profile). */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    /** Path-style URLs, which most S3-compatible servers need. */
    forcePathStyle: z.boolean().default(false),
  })
  .refine((c) => (c.accessKeyId === undefined) === (c.secretAccessKey === undefined), {
    message: 'accessKeyId and secretAccessKey are set together or not at all',
  });
export type S3BlobStoreConfig = z.input<typeof S3BlobStoreConfig>;

export interface S3BlobStore extends BlobStore {
  /** Creates the bucket when it does not exist yet; safe when several workers race to do it. */
  ensureBucket(): Promise<void>;
}

/** Parts are buffered in memory: PART_SIZE × (QUEUE_SIZE + 1) bounds a put's memory, 10,000 parts its size (80 GB). */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;
const DELETE_BATCH = 1000;

interface AwsLikeError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);
const TRANSIENT = new Set(['RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'InternalError', 'ServiceUnavailable']);
const KEY_COLLISION = new Set(['ObjectParentIsFile', 'ExistingObjectIsDirectory']);

/** The one place S3 failures become ConnectorErrors; `what` names the operation and object for the message. */
export function mapS3Error(err: unknown, what: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = (err ?? {}) as AwsLikeError;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const detail = `${what}: ${name ? `${name}: ` : ''}${e.message ?? String(err)}`;
  const fail = (type: FailureType, message = detail) => new ConnectorError(type, message, { cause: err });

  if (name === 'NoSuchBucket') return fail(FailureType.InvalidInput, `${detail} (create it first: ensureBucket())`);
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return fail(FailureType.NotFound);
  if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
    return fail(FailureType.InvalidInput, `${detail} (access denied: check the access key, secret and the bucket's policy)`);
  }
  if (KEY_COLLISION.has(name)) {
    return fail(FailureType.InvalidInput, `${detail} (a key cannot also be the folder of other keys on this server)`);
  }
  if (THROTTLING.has(name) || TRANSIENT.has(name) || status === 429 || (status !== undefined && status >= 500)) {
    return fail(FailureType.Unavailable);
  }
  if (status !== undefined && status >= 400) return fail(FailureType.InvalidInput);
  // No HTTP status: the request never got an answer (refused, reset, DNS, timeout). The server may be back soon.
  return fail(FailureType.Unavailable);
}

/** Blobs in an S3 bucket (AWS or any S3-compatible server). */
export function createS3BlobStore(config: S3BlobStoreConfig): S3BlobStore {
  const c = S3BlobStoreConfig.parse(config);
  const base = c.prefix ? `${validatePrefix(c.prefix).replace(/\/+$/, '')}/` : '';
  const Bucket = c.bucket;
  const clientConfig: S3ClientConfig = {
    region: c.region,
    forcePathStyle: c.forcePathStyle,
    // Temporal retries the activity with its own backoff and visibility; SDK retries underneath would multiply them.
    maxAttempts: 1,
  };
  if (c.endpoint) clientConfig.endpoint = c.endpoint;
  if (c.accessKeyId && c.secretAccessKey) {
    clientConfig.credentials = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  }
  const client = new S3Client(clientConfig);
  const where = (key: string) => `s3://${Bucket}/${base}${key}`;

  async function put(key: string, body: BlobBody): Promise<{ bytes: number }> {
    validateKey(key);
    const tally: BodyTally = { bytes: 0 };
    // Upload sends one PutObject for small bodies and a multipart upload (aborted on failure) for large ones, so a
    // body of unknown length streams through bounded part buffers; either way the object appears whole or not at all.
    const upload = new Upload({
      client,
      params: { Bucket, Key: base + key, Body: Readable.from(bodyChunks(body, tally)) },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      if (tally.bodyError !== undefined) throw tally.bodyError;
      throw mapS3Error(err, `put ${where(key)}`);
    }
    return { bytes: tally.bytes };
  }

  async function get(key: string): Promise<Readable> {
    validateKey(key);
    try {
      const out = await client.send(new GetObjectCommand({ Bucket, Key: base + key }));
      // In Node the SDK's body is an http IncomingMessage; a failure while it streams surfaces as a stream error.
      return out.Body as Readable;
    } catch (err) {
      throw mapS3Error(err, `get ${where(key)}`);
    }
  }

  async function exists(key: string): Promise<boolean> {
    validateKey(key);
    try {
      await client.send(new HeadObjectCommand({ Bucket, Key: base + key }));
      return true;
    } catch (err) {
      const mapped = mapS3Error(err, `head ${where(key)}`);
      if (mapped.type === FailureType.NotFound) return false;
      throw mapped;
    }
  }

  async function modifiedAt(key: string): Promise<Date> {
    validateKey(key);
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket, Key: base + key }));
      if (!head.LastModified) throw new ConnectorError(FailureType.InvalidInput, `head ${where(key)}: no Last-Modified`);
      return head.LastModified;
    } catch (err) {
      if (err instanceof ConnectorError) throw err;
      throw mapS3Error(err, `head ${where(key)}`);
    }
  }

  async function* listFrom(prefix: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new ListObjectsV2Command({ Bucket, Prefix: base + prefix, ContinuationToken: token }));
      } catch (err) {
        throw mapS3Error(err, `list ${where(prefix)}`);
      }
      for (const o of page.Contents ?? []) {
        // Folder markers (`dir/`) made by other tools are not blobs.
        if (o.Key && !o.Key.endsWith('/')) yield o.Key.slice(base.length);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async function deleteBatch(keys: string[]): Promise<void> {
    try {
      const out = await client.send(
        new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((k) => ({ Key: base + k })), Quiet: true } }),
      );
      const failed = out.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0]!;
        throw Object.assign(
          new Error(`${failed.length} of ${keys.length} deletes failed, first ${first.Key}: ${first.Message}`),
          {
            name: first.Code ?? 'DeleteObjectsError',
          },
        );
      }
    } catch (err) {
      throw mapS3Error(err, `delete ${keys.length} objects in s3://${Bucket}/${base}`);
    }
  }

  return {
    put,
    get,
    exists,
    modifiedAt,
    async delete(key) {
      validateKey(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: base + key }));
      } catch (err) {
        throw mapS3Error(err, `delete ${where(key)}`);
      }
    },
    async deletePrefix(prefix) {
      validatePrefix(prefix);
      let n = 0;
      let batch: string[] = [];
      // Each listed page is deleted before the next is read; continuation tokens mark a position in key order, so
      // deleting what was already listed does not shift them.
      for await (const key of listFrom(prefix)) {
        batch.push(key);
        if (batch.length === DELETE_BATCH) {
          await deleteBatch(batch);
          n += batch.length;
          batch = [];
        }
      }
      if (batch.length > 0) await deleteBatch(batch);
      return n + batch.length;
    },
    list(prefix) {
      validatePrefix(prefix);
      return listFrom(prefix);
    },
    async ensureBucket() {
      try {
        await client.send(new HeadBucketCommand({ Bucket }));
        return;
      } catch (err) {
        const mapped = mapS3Error(err, `head bucket ${Bucket}`);
        if (mapped.type !== FailureType.NotFound) throw mapped;
      }
      try {
        await client.send(new CreateBucketCommand({ Bucket }));
      } catch (err) {
        const name = (err as AwsLikeError).name;
        if (name === 'BucketAlreadyOwnedByYou') return; // another worker won the race
        throw mapS3Error(err, `create bucket ${Bucket}`);
      }
    },
    async close() {
      client.destroy();
    },
  };
}
