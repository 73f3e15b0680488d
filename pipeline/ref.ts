import { createHash } from 'node:crypto';
import type { PipelineRef } from '../workflows/types.ts';
import type { PipelineSpec } from './spec.ts';

/** The small part of a spec that travels in workflow inputs. Task queues are per pipeline: workers hold its deps. */
export function pipelineRef(spec: PipelineSpec): PipelineRef {
  return {
    name: spec.name,
    version: spec.version,
    tenant: spec.tenant,
    sinks: spec.sinks.map((s) => s.name),
    ingestQueue: `ragline.${spec.name}.ingest`,
    embedQueue: `ragline.${spec.name}.embed`,
    fingerprint: createHash('sha256')
      .update(
        JSON.stringify({
          chunker: spec.chunker,
          embedder: { ...spec.embedder, batchSize: undefined, maxBatchTokens: undefined },
        }),
      )
      .digest('hex')
      .slice(0, 12),
  };
}
