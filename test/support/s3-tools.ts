import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s3AccessLogFile } from '../../infra/services/s3.ts';
import { missingTestTools, testToolPaths } from '../../infra/services/test-tools.ts';
import { stack } from './stack.ts';

/**
 * Runs the AWS CLI (v1, installed by infra into its own venv) against the local S3 server with the stack's
 * credentials; no profile, config file or instance metadata is consulted. Returns stdout; fails with stderr.
 */
export async function runAwsCli(args: string[], timeoutMs = 60_000): Promise<string> {
  const missing = missingTestTools(stack);
  if (missing.length > 0) throw new Error(`not installed: ${missing.join('; ')} (run npm run infra:up)`);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    AWS_ACCESS_KEY_ID: stack.s3.accessKey,
    AWS_SECRET_ACCESS_KEY: stack.s3.secretKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    PYTHONIOENCODING: 'utf-8',
  };
  const full = ['--endpoint-url', `http://127.0.0.1:${stack.ports.s3}`, '--output', 'json', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(testToolPaths(stack).aws, full, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(`aws ${args.slice(0, 2).join(' ')} ${signal ? `killed (${signal})` : `exited ${code}`}: ${stderr.trim()}`),
        );
    });
  });
}

export interface PlainPutInput {
  bucket: string;
  key: string;
  /** The object's bytes; or give `file`. */
  body?: string | Uint8Array;
  file?: string;
  contentType?: string;
}

/**
 * PutObject through the AWS CLI (`s3api put-object`, one request, the CLI's default CRC32 checksum). Keys are passed
 * as one argv entry in `--key=` form, so spaces, `+`, Unicode and a leading `-` reach the server as given.
 * Returns the ETag without quotes.
 */
export async function s3PutWithPlainClient(input: PlainPutInput): Promise<{ etag: string }> {
  if ((input.body === undefined) === (input.file === undefined)) throw new Error('s3PutWithPlainClient: give body or file');
  let file = input.file;
  let scratch: string | undefined;
  if (file === undefined) {
    scratch = join(tmpdir(), `ragline-put-${randomBytes(6).toString('hex')}`);
    writeFileSync(scratch, input.body as string | Uint8Array);
    file = scratch;
  }
  try {
    const out = await runAwsCli([
      's3api',
      'put-object',
      `--bucket=${input.bucket}`,
      `--key=${input.key}`,
      `--body=${file}`,
      ...(input.contentType ? [`--content-type=${input.contentType}`] : []),
    ]);
    const etag = (JSON.parse(out) as { ETag?: string }).ETag ?? '';
    return { etag: etag.replace(/"/g, '') };
  } finally {
    if (scratch) rmSync(scratch, { force: true });
  }
}

/** DeleteObject through the AWS CLI (`s3api delete-object`). */
export async function s3DeleteWithPlainClient(input: { bucket: string; key: string }): Promise<void> {
  await runAwsCli(['s3api', 'delete-object', `--bucket=${input.bucket}`, `--key=${input.key}`]);
}

/** A position in the S3 server's access log; requests after it are the ones a window counts. */
export interface S3LogMark {
  offset: number;
}

/** Marks the end of the access log now. Take it before the window's requests start. */
export function markS3AccessLog(): S3LogMark {
  const file = s3AccessLogFile(stack);
  if (!existsSync(file))
    throw new Error(
      `no S3 access log at ${file}: the S3 server runs without --access-log (restart it: infra down s3, infra up s3)`,
    );
  return { offset: statSync(file).size };
}

/** One request as versitygw's access log records it (an S3 server-access-log line). */
export interface S3AccessLogEntry {
  bucket: string;
  /** Decoded object key from the request URI, or '' for bucket- and service-level requests. */
  key: string;
  /** The S3 operation without versitygw's `s3_` prefix: GetObject, HeadObject, PutObject, ListObjectsV2... */
  operation: string;
  status: number;
  /** The raw request URI, query included. */
  uri: string;
  requester: string;
  userAgent: string;
}

export interface S3LogFilter {
  operation?: string;
  bucket?: string;
  key?: string;
  /** Only requests answered with this HTTP status (default: any status, failed requests included). */
  status?: number;
}

// owner bucket [time] ip requester request-id operation KEY URI status error bytes size total turnaround referer UA...
// The key field is the decoded key and may hold spaces; the URI is encoded and has none, so it anchors the parse.
const LINE =
  /^(\S+) (\S+) \[([^\]]+)\] (\S+) (\S+) (\S+) (\S+) (.*?) (\/\S*) (\d{3}) (\S+) (\d+) (-?\d+) (-?\d+) (-?\d+) (\S+) (.*) (\S+) (\S+) SigV4 /;

/**
 * Requests the S3 server logged after `since`, filtered. The server writes each line before it sends the response,
 * so every request whose answer a client has received is already counted.
 */
export function readS3AccessLog(since: S3LogMark, filter: S3LogFilter = {}): S3AccessLogEntry[] {
  const buf = readFileSync(s3AccessLogFile(stack));
  const text = buf.subarray(Math.min(since.offset, buf.length)).toString('utf8');
  const out: S3AccessLogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue; // "log starts ..." after a restart, or a partial last line
    const uri = m[9] as string;
    const entry: S3AccessLogEntry = {
      bucket: m[2] === '-' ? '' : (m[2] as string),
      key: keyFromUri(uri),
      operation: (m[7] as string).replace(/^s3_/, ''),
      status: Number(m[10]),
      uri,
      requester: m[5] as string,
      userAgent: m[17] as string,
    };
    if (filter.operation !== undefined && entry.operation !== filter.operation) continue;
    if (filter.bucket !== undefined && entry.bucket !== filter.bucket) continue;
    if (filter.key !== undefined && entry.key !== filter.key) continue;
    if (filter.status !== undefined && entry.status !== filter.status) continue;
    out.push(entry);
  }
  return out;
}

/** How many requests matching `filter` the S3 server served after `since` (e.g. `{ operation: 'GetObject', bucket }`). */
export function countS3Requests(since: S3LogMark, filter: S3LogFilter = {}): number {
  return readS3AccessLog(since, filter).length;
}

/** Path-style URI: /bucket/key?query; the key is percent-encoded. */
function keyFromUri(uri: string): string {
  const path = uri.split('?', 1)[0] as string;
  const slash = path.indexOf('/', 1);
  if (slash < 0) return '';
  try {
    return decodeURIComponent(path.slice(slash + 1));
  } catch {
    return path.slice(slash + 1);
  }
}
