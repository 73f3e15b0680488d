import type { BlobStore } from '../connectors/blobstore/blobstore.ts';
import type { Chunker } from '../connectors/chunkers/chunker.ts';
import type { Embedder } from '../connectors/embedders/embedder.ts';
import type { LateChunkEmbedder } from '../connectors/embedders/late/late-chunking.ts';
import type { EmbeddingCache, Ledger } from '../connectors/ledger/ledger.ts';
import type { ParseLimits } from '../connectors/parsers/parser.ts';
import type { Sink } from '../connectors/sinks/sink.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import type { Source } from '../connectors/sources/source.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';

/** Everything the activities of one pipeline use, built once per worker from the validated spec. */
export interface PipelineDeps {
  spec: PipelineSpec;
  sources: Source[];
  blobs: BlobStore;
  ledger: Ledger;
  sinks: Map<string, Sink>;
  chunker: Chunker;
  limits: ParseLimits;
  /** Present on embed workers only (the ingest worker never loads the model). */
  embedder?: Embedder;
  cache?: EmbeddingCache;
  /** Present on embed workers of a pipeline with lateChunking. */
  late?: LateChunkEmbedder;
  /**
   * A pool embed worker's: aborted when its server stops answering its health probes, so the embed requests held by
   * a frozen server are abandoned at once (and retried elsewhere) instead of at their timeout (embed-supervisor.ts).
   */
  serverLost?: () => AbortSignal;
}

/** What an embed call listens to: the activity's cancellation, and the pool worker's server being judged down. */
export function embedSignal(deps: Pick<PipelineDeps, 'serverLost'>, cancellation: AbortSignal): AbortSignal {
  return deps.serverLost ? AbortSignal.any([cancellation, deps.serverLost()]) : cancellation;
}

export function sourceFor(deps: Pick<PipelineDeps, 'sources'>, uri: string): Source {
  const source = deps.sources.find((s) => s.handles(uri));
  if (!source) throw new ConnectorError(FailureType.InvalidInput, `no source handles ${uri} (use s3:// or file://)`);
  return source;
}

export function sinkFor(deps: Pick<PipelineDeps, 'sinks'>, name: string): Sink {
  const sink = deps.sinks.get(name);
  if (!sink) throw new ConnectorError(FailureType.InvalidInput, `the pipeline has no sink named ${name}`);
  return sink;
}
