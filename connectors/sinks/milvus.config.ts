import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { readSpecFile, resolveOptionalSecret, SecretInput, SecretRef, type SecretSource } from '../shared/secret.ts';

// The sink's settings alone, so a pipeline spec validates without loading the vendor SDK.
export const MilvusSinkConfig = z.object({
  /** host:port of Milvus or Milvus Lite, or a Zilliz Cloud endpoint (with `token`). */
  address: z.string().min(1).default('127.0.0.1:19530'),
  /** `user:password` or an API key (Zilliz Cloud). */
  token: z.string().min(1).optional(),
  /** A Milvus user and password, the other way to log in (not with `token`). */
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  database: z.string().min(1).optional(),
  /** TLS with the public roots (also implied by an `https://` address or a `tls.ca`). */
  ssl: z.boolean().default(false),
  /** PEM texts: a CA for a private server certificate; a client certificate and key for mutual TLS. */
  tls: z
    .object({
      ca: z.string().min(1).optional(),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      /** The name the server certificate must carry, when it is not the address's host. */
      serverName: z.string().min(1).optional(),
    })
    .optional(),
  /** Rows per upsert request (a request is also kept under about 8 MiB) and ids per delete request. */
  batchSize: z.number().int().min(1).max(10_000).default(500),
  /** Deadline of each request, in milliseconds. */
  timeoutMs: z.number().int().positive().default(30_000),
});
export type MilvusSinkConfig = z.input<typeof MilvusSinkConfig>;

/**
 * The sink as a pipeline spec declares it: the token or password by reference (the token inline too, as before),
 * certificates and the client key by file.
 */
export const MilvusSinkSpecFields = MilvusSinkConfig.omit({ token: true, password: true, tls: true }).extend({
  token: SecretInput.optional(),
  password: SecretRef.optional(),
  caFile: z.string().min(1).optional(),
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  serverName: z.string().min(1).optional(),
});
export type MilvusSinkSpecFields = z.infer<typeof MilvusSinkSpecFields>;

/** Reads the spec's secrets and files (at worker start) into the connector's own config. */
export function milvusSinkConfigOf(spec: MilvusSinkSpecFields, what: string, source: SecretSource): MilvusSinkConfig {
  const { token, password, caFile, certFile, keyFile, serverName, ...rest } = spec;
  const bad = (message: string) => new ConnectorError(FailureType.InvalidInput, `${what}: ${message}`);
  if (token !== undefined && (rest.username !== undefined || password !== undefined))
    throw bad('give either token or username and password, not both');
  if ((rest.username === undefined) !== (password === undefined)) throw bad('username and password go together');
  if ((certFile === undefined) !== (keyFile === undefined)) throw bad('certFile and keyFile go together (mutual TLS)');
  const file = (path: string | undefined, key: string) =>
    path === undefined ? undefined : readSpecFile(path, `${what} ${key}`, source);
  const tls = { ca: file(caFile, 'caFile'), cert: file(certFile, 'certFile'), key: file(keyFile, 'keyFile'), serverName };
  return {
    ...rest,
    token: resolveOptionalSecret(token, `${what} token`, source),
    password: resolveOptionalSecret(password, `${what} password`, source),
    ...(Object.values(tls).some((v) => v !== undefined) ? { tls } : {}),
  };
}
