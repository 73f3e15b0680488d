import { z } from 'zod';

// The sink's settings alone, so a pipeline spec validates without loading the vendor SDK.
export const MilvusSinkConfig = z.object({
  /** host:port of Milvus or Milvus Lite, or a Zilliz Cloud endpoint (with `token`). */
  address: z.string().min(1).default('127.0.0.1:19530'),
  /** `user:password` or an API key. */
  token: z.string().min(1).optional(),
  database: z.string().min(1).optional(),
  ssl: z.boolean().default(false),
  /** Rows per upsert request (a request is also kept under about 8 MiB) and ids per delete request. */
  batchSize: z.number().int().min(1).max(10_000).default(500),
  /** Deadline of each request, in milliseconds. */
  timeoutMs: z.number().int().positive().default(30_000),
});
export type MilvusSinkConfig = z.input<typeof MilvusSinkConfig>;
