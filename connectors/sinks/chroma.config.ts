import { z } from 'zod';
import { readSpecFile, resolveOptionalSecret, SecretInput, type SecretSource } from '../shared/secret.ts';

// The sink's settings alone, so a pipeline spec validates without loading the vendor SDK.
export const ChromaSinkConfig = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(8000),
  /** HTTPS. */
  ssl: z.boolean().default(false),
  /**
   * A CA certificate (PEM) for a server whose certificate no public root signs. The client takes no CA per connection,
   * so it is added to the roots this whole process trusts (connectors/shared/tls.ts).
   */
  ca: z.string().min(1).optional(),
  /** Chroma's own tenant and database (not ours), set explicitly so the client never falls back to environment variables. */
  tenant: z.string().min(1).default('default_tenant'),
  database: z.string().min(1).default('default_database'),
  /** Token for a server with token auth; sent as `x-chroma-token` or as `Authorization: Bearer`. */
  authToken: z.string().min(1).optional(),
  authHeader: z.enum(['x-chroma-token', 'authorization']).default('x-chroma-token'),
  /** Rows per page when listing ids or counting with a filter. */
  pageSize: z.number().int().min(1).max(10_000).default(1000),
});
export type ChromaSinkConfig = z.input<typeof ChromaSinkConfig>;

/** The sink as a pipeline spec declares it: the token by reference (or inline, as before), the CA by file. */
export const ChromaSinkSpecFields = ChromaSinkConfig.omit({ authToken: true, ca: true }).extend({
  authToken: SecretInput.optional(),
  caFile: z.string().min(1).optional(),
});
export type ChromaSinkSpecFields = z.infer<typeof ChromaSinkSpecFields>;

/** Reads the spec's secrets and files (at worker start) into the connector's own config. */
export function chromaSinkConfigOf(spec: ChromaSinkSpecFields, what: string, source: SecretSource): ChromaSinkConfig {
  const { authToken, caFile, ...rest } = spec;
  return {
    ...rest,
    authToken: resolveOptionalSecret(authToken, `${what} authToken`, source),
    ca: caFile === undefined ? undefined : readSpecFile(caFile, `${what} caFile`, source),
  };
}
