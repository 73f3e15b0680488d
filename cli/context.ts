import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadStackConfig, type StackConfig } from '../infra/config.ts';
import { defaultPipelineSpec, loadPipelineSpec, validatePipelineSpec, type PipelineSpec } from '../pipeline/spec.ts';
import { resolveTemporalTarget, type TemporalTarget } from '../sdk/temporal-connection.ts';
import type { S3Access } from '../workers/build-deps.ts';

/** Everything a command needs, read from flags and the environment once, here at the edge. */
export interface CliContext {
  stack: StackConfig;
  spec: PipelineSpec;
  /** Relative paths in the spec resolve against this folder. */
  baseDir: string;
  /** The spec's `temporal` block with its secrets read; TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE override it. */
  temporal: TemporalTarget;
  s3: S3Access;
  /** The global options (`--pipeline FILE`, `--tenant`) that rebuild this context in another `ingest` process. */
  globalArgs: string[];
}

export function cliContext(opts: { pipeline?: string; tenant?: string }, env: NodeJS.ProcessEnv = process.env): CliContext {
  const stack = loadStackConfig(env);
  const cwd = userCwd(env);
  const pipelineFile = opts.pipeline ? resolve(cwd, opts.pipeline) : undefined;
  const loaded = pipelineFile
    ? loadPipelineSpec(pipelineFile)
    : defaultPipelineSpec({ dataDir: stack.dataDir, chromaPort: stack.ports.chroma, tenant: opts.tenant });
  // --tenant goes through the same validation as the spec's own field.
  const spec = opts.pipeline && opts.tenant ? validatePipelineSpec({ ...loaded, tenant: opts.tenant }, '--tenant') : loaded;
  const baseDir = pipelineFile ? dirname(pipelineFile) : cwd;
  return {
    stack,
    spec,
    baseDir,
    temporal: resolveTemporalTarget(spec.temporal, {
      env,
      baseDir,
      defaults: { address: `127.0.0.1:${stack.ports.temporal}`, namespace: stack.temporalNamespace },
    }),
    s3: {
      endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? `http://127.0.0.1:${stack.ports.s3}`,
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? stack.s3.accessKey,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? stack.s3.secretKey,
    },
    globalArgs: [...(pipelineFile ? ['--pipeline', pipelineFile] : []), ...(opts.tenant ? ['--tenant', opts.tenant] : [])],
  };
}

/** The folder the user ran the command from (`npm run` moves to the project root and leaves it in INIT_CWD). */
export function userCwd(env: NodeJS.ProcessEnv = process.env): string {
  return env.INIT_CWD ?? process.cwd();
}

/** Accepts `s3://...`, `file:///abs`, or a plain local path (made absolute against the user's folder). */
export function normaliseSourceUri(uri: string, cwd: string = userCwd()): string {
  if (/^(s3|file):\/\//.test(uri)) return uri;
  return pathToFileURL(resolve(cwd, uri)).href;
}
