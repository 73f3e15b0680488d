import { dirname, resolve } from 'node:path';
import { loadStackConfig, type StackConfig } from '../infra/config.ts';
import { defaultPipelineSpec, loadPipelineSpec, type PipelineSpec } from '../pipeline/spec.ts';
import type { S3Access } from '../workers/build-deps.ts';

/** Everything a command needs, read from flags and the environment once, here at the edge. */
export interface CliContext {
  stack: StackConfig;
  spec: PipelineSpec;
  /** Relative paths in the spec resolve against this folder. */
  baseDir: string;
  temporal: { address: string; namespace: string };
  s3: S3Access;
}

export function cliContext(opts: { pipeline?: string; tenant?: string }, env: NodeJS.ProcessEnv = process.env): CliContext {
  const stack = loadStackConfig(env);
  const spec = opts.pipeline
    ? loadPipelineSpec(opts.pipeline)
    : defaultPipelineSpec({ dataDir: stack.dataDir, chromaPort: stack.ports.chroma, tenant: opts.tenant });
  if (opts.pipeline && opts.tenant) spec.tenant = opts.tenant;
  return {
    stack,
    spec,
    baseDir: opts.pipeline ? dirname(resolve(opts.pipeline)) : process.cwd(),
    temporal: {
      address: env.TEMPORAL_ADDRESS ?? `127.0.0.1:${stack.ports.temporal}`,
      namespace: env.TEMPORAL_NAMESPACE ?? stack.temporalNamespace,
    },
    s3: {
      endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? `http://127.0.0.1:${stack.ports.s3}`,
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? stack.s3.accessKey,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? stack.s3.secretKey,
    },
  };
}

/** Accepts `s3://...`, `file:///abs`, or a plain local path (made absolute). */
export function normaliseSourceUri(uri: string): string {
  if (/^(s3|file):\/\//.test(uri)) return uri;
  return new URL(`file://${resolve(uri)}`).href;
}
