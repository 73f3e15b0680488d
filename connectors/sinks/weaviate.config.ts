import { z } from 'zod';

// The sink's settings alone, so a pipeline spec validates without loading the vendor SDK.
export const WeaviateSinkConfig = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(8080),
  grpcPort: z.number().int().min(1).max(65535).default(50051),
  secure: z.boolean().default(false),
  apiKey: z.string().min(1).optional(),
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
