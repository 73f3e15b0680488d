import { z } from 'zod';
import { readSpecFile, resolveOptionalSecret, SecretInput, type SecretSource } from '../shared/secret.ts';

// The sink's settings alone, so a pipeline spec validates without loading the vendor SDK.
export const WeaviateSinkConfig = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(8080),
  grpcPort: z.number().int().min(1).max(65535).default(50051),
  /** HTTPS for the REST API and TLS for gRPC. */
  secure: z.boolean().default(false),
  /** The API key, sent as `Authorization: Bearer` on both protocols. */
  apiKey: z.string().min(1).optional(),
  /**
   * A CA certificate (PEM) for a server whose certificate no public root signs. The client takes no CA per connection,
   * so it is added to the roots this whole process trusts (connectors/shared/tls.ts).
   */
  ca: z.string().min(1).optional(),
  /** Objects per insertMany and ids per deleteMany request. */
  batchSize: z.number().int().min(1).max(10_000).default(200),
  /** insertMany requests in flight at once: each gRPC batch call costs about half a second on the server however small. */
  concurrency: z.number().int().min(1).max(64).default(4),
  /** Ids per page when listing a document's ids. */
  pageSize: z.number().int().min(1).max(10_000).default(1000),
  /** Client timeouts in seconds (the client's own defaults are 30 s, 90 s and 2 s). */
  queryTimeoutS: z.number().positive().default(30),
  insertTimeoutS: z.number().positive().default(60),
  initTimeoutS: z.number().positive().default(5),
});
export type WeaviateSinkConfig = z.input<typeof WeaviateSinkConfig>;

/** The sink as a pipeline spec declares it: the API key by reference (or inline, as before), the CA by file. */
export const WeaviateSinkSpecFields = WeaviateSinkConfig.omit({ apiKey: true, ca: true }).extend({
  apiKey: SecretInput.optional(),
  caFile: z.string().min(1).optional(),
});
export type WeaviateSinkSpecFields = z.infer<typeof WeaviateSinkSpecFields>;

/** Reads the spec's secrets and files (at worker start) into the connector's own config. */
export function weaviateSinkConfigOf(spec: WeaviateSinkSpecFields, what: string, source: SecretSource): WeaviateSinkConfig {
  const { apiKey, caFile, ...rest } = spec;
  return {
    ...rest,
    apiKey: resolveOptionalSecret(apiKey, `${what} apiKey`, source),
    ca: caFile === undefined ? undefined : readSpecFile(caFile, `${what} caFile`, source),
  };
}
