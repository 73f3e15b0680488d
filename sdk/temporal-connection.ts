import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client, Connection, type ConnectionOptions, type TLSConfig } from '@temporalio/client';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { PipelineSpecError } from '../pipeline/spec.ts';
import { resolveSecret, SecretError, type SecretRef } from '../connectors/shared/secret.ts';
import type { Tracing } from '../connectors/shared/tracing.ts';
import type { TemporalConfig } from '../pipeline/temporal-config.ts';
import { AesGcmCodec, KeyRingError, parseKeyRing } from './codec.ts';

/**
 * Everything a client or worker needs to reach one Temporal namespace, secrets already read. Made once at the edge
 * (`resolveTemporalTarget`); `connectionOptions`, `nativeConnectionOptions` and `dataConverterOf` map it for the SDK.
 */
export interface TemporalTarget {
  /** Temporal frontend, e.g. `127.0.0.1:7233`. */
  address: string;
  namespace: string;
  /** TLS settings; absent: TLS exactly when `apiKey` is set (the SDK's default). */
  tls?: TLSConfig | boolean;
  /** Sent as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Encrypts every payload the client or worker sends and decrypts what it reads. */
  codec?: PayloadCodec;
  /**
   * OpenTelemetry tracing (`startTracing`, or a tracer provider of the application's own registered globally): the
   * client's starts, signals and queries, and a worker's workflows and activities, become spans of one trace.
   * Absent: no interceptors, no spans.
   */
  tracing?: Pick<Tracing, 'resource' | 'spanProcessor'>;
}

/** The spec's `temporal` block could not be turned into a connection: a secret or file is missing or malformed. */
export class TemporalConfigError extends PipelineSpecError {
  override name = 'TemporalConfigError';
}

export interface ResolveOptions {
  env: NodeJS.ProcessEnv;
  /** Relative files resolve against this folder (the spec's). */
  baseDir: string;
  /** Address and namespace when neither the environment nor the spec names one (the local stack). */
  defaults: { address: string; namespace: string };
}

/**
 * Reads the block's files and environment variables and reports every problem at once. TEMPORAL_ADDRESS and
 * TEMPORAL_NAMESPACE override the block's address and namespace.
 */
export function resolveTemporalTarget(config: TemporalConfig | undefined, opts: ResolveOptions): TemporalTarget {
  const issues: string[] = [];
  const read = (what: string, src: SecretRef): string | undefined => {
    try {
      return resolveSecret(src, `temporal.${what}`, { env: opts.env, baseDir: opts.baseDir });
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      issues.push(err.message);
      return undefined;
    }
  };
  const readFile = (what: string, file: string): Buffer | undefined => {
    try {
      return readFileSync(resolve(opts.baseDir, file));
    } catch (err) {
      issues.push(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return undefined;
    }
  };

  const target: TemporalTarget = {
    address: opts.env.TEMPORAL_ADDRESS || config?.address || opts.defaults.address,
    namespace: opts.env.TEMPORAL_NAMESPACE || config?.namespace || opts.defaults.namespace,
  };
  const tls = config?.tls;
  if (typeof tls === 'boolean') target.tls = tls;
  else if (tls) {
    const t: TLSConfig = {};
    if (tls.serverName) t.serverNameOverride = tls.serverName;
    if (tls.serverCaFile) t.serverRootCACertificate = readFile('temporal.tls.serverCaFile', tls.serverCaFile);
    if (tls.clientCertFile && tls.clientKeyFile) {
      const crt = readFile('temporal.tls.clientCertFile', tls.clientCertFile);
      const key = readFile('temporal.tls.clientKeyFile', tls.clientKeyFile);
      if (crt && key) t.clientCertPair = { crt, key };
    }
    target.tls = t;
  }
  if (config?.apiKey) target.apiKey = read('apiKey', config.apiKey);
  if (config?.encryption) {
    const text = read('encryption.keys', config.encryption.keys);
    const keys = config.encryption.keys;
    const where = 'env' in keys ? keys.env : keys.file;
    if (text !== undefined) {
      try {
        target.codec = new AesGcmCodec(parseKeyRing(text, `temporal.encryption.keys (${where})`));
      } catch (err) {
        if (!(err instanceof KeyRingError)) throw err;
        issues.push(err.message);
      }
    }
  }
  if (issues.length > 0) throw new TemporalConfigError('temporal settings', issues);
  return target;
}

/** Options for `Connection.connect` (clients). */
export function connectionOptions(t: TemporalTarget): ConnectionOptions {
  return { address: t.address, ...(t.tls !== undefined && { tls: t.tls }), ...(t.apiKey && { apiKey: t.apiKey }) };
}

/** Options for `NativeConnection.connect` (workers); the same fields under the same names. */
export function nativeConnectionOptions(t: TemporalTarget): NativeConnectionOptions {
  return { address: t.address, ...(t.tls !== undefined && { tls: t.tls }), ...(t.apiKey && { apiKey: t.apiKey }) };
}

/** The data converter for a Client or Worker: the codec runs outside the workflow sandbox, on both sides. */
export function dataConverterOf(t: TemporalTarget): DataConverter | undefined {
  return t.codec ? { payloadCodecs: [t.codec] } : undefined;
}

/** A Client on its own connection (close it with `client.connection.close()`). */
export async function connectClient(t: TemporalTarget): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(t));
  return new Client({
    connection,
    namespace: t.namespace,
    dataConverter: dataConverterOf(t),
    ...(t.tracing && { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } }),
  });
}
