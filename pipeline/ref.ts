import { createHash } from 'node:crypto';
import { taskQueues, type PipelineRef } from '../workflows/types.ts';
import type { PipelineSpec } from './spec.ts';

/**
 * The small part of a spec that travels in workflow inputs. Task queues are per pipeline version (workers hold that
 * version's deps), and activities refuse work whose fingerprint differs from their own spec's.
 */
export function pipelineRef(spec: PipelineSpec, tenant: string = spec.tenant): PipelineRef {
  return {
    name: spec.name,
    version: spec.version,
    tenant,
    sinks: spec.sinks.map((s) => s.name),
    ...taskQueues(spec.name, spec.version),
    fingerprint: createHash('sha256')
      .update(
        JSON.stringify({
          chunker: spec.chunker,
          // Throughput knobs and credentials do not shape vectors: rotating an API key re-processes nothing. (Keys that
          // are undefined drop out of the JSON, so specs without them keep the fingerprint they always had.)
          embedder: { ...spec.embedder, batchSize: undefined, maxBatchTokens: undefined, apiKey: undefined },
        }),
      )
      .digest('hex')
      .slice(0, 12),
  };
}
