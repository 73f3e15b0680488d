import { z } from 'zod';

// The sink's settings alone, so a pipeline spec validates without loading the vendor SDK.
export const ChromaSinkConfig = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(8000),
  ssl: z.boolean().default(false),
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
