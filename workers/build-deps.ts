import { resolve } from 'node:path';
import type { PipelineDeps } from '../activities/deps.ts';
import { createLocalDirBlobStore } from '../connectors/blobstore/local-dir.ts';
import { createS3BlobStore } from '../connectors/blobstore/s3.ts';
import { createChunker } from '../connectors/chunkers/index.ts';
import { createLocalOnnxEmbedder, loadTokenCounter } from '../connectors/embedders/local-onnx.ts';
import { withMicroBatching } from '../connectors/embedders/micro-batcher.ts';
import { createHashEmbedder } from '../connectors/embedders/hash.ts';
import type { Embedder } from '../connectors/embedders/embedder.ts';
import type { LateChunkEmbedder } from '../connectors/embedders/late/late-chunking.ts';
import type { TokenCounter } from '../connectors/chunkers/chunker.ts';
import { createPostgresEmbeddingCache } from '../connectors/ledger/embedding-cache-postgres.ts';
import type { EmbeddingCache, Ledger } from '../connectors/ledger/ledger.ts';
import { createPostgresLedger } from '../connectors/ledger/postgres.ts';
import {
  createThreadedSqliteEmbeddingCache,
  createThreadedSqliteLedger,
  createThreadedSqliteTermStats,
} from '../connectors/ledger/sqlite-thread.ts';
import { chromaSinkConfigOf } from '../connectors/sinks/chroma.config.ts';
import { milvusSinkConfigOf } from '../connectors/sinks/milvus.config.ts';
import { pineconeSinkConfigOf } from '../connectors/sinks/pinecone.config.ts';
import { weaviateSinkConfigOf } from '../connectors/sinks/weaviate.config.ts';
import type { SecretSource } from '../connectors/shared/secret.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import type { Sink } from '../connectors/sinks/sink.ts';
import type { TermStats } from '../connectors/sparse/term-stats.ts';
import { createPostgresTermStats } from '../connectors/sparse/term-stats-postgres.ts';
import { MAX_PARSE_THREADS, setMaxParseThreads } from '../connectors/parsers/bounded-threads.ts';
import { createLocalDirSource } from '../connectors/sources/local-dir.ts';
import { createS3Source } from '../connectors/sources/s3.ts';
import { installedDefaultModelDir } from '../connectors/embedders/model-files.ts';
import { hostedEmbedderFor, isHosted } from './hosted-embedder.ts';
import type { LedgerSpec, PipelineSpec, SinkSpec } from '../pipeline/spec.ts';

/** Credentials and endpoint for S3, read from the environment at the edge (CLI, worker start). */
export interface S3Access {
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export type WorkerRole = 'ingest' | 'embed';

export interface BuiltDeps extends PipelineDeps {
  close(): Promise<void>;
}

/**
 * The embedding model for embed workers, and its tokenizer for chunking everywhere (ingest workers never load the
 * model). Concurrent embed activities (one per document) share model calls, so small documents still fill batches.
 */
export async function embedderFor(
  spec: PipelineSpec,
  roles: WorkerRole[],
  at: (p: string) => string,
  env: NodeJS.ProcessEnv = process.env,
  /** A pool embedder's server (the worker's --embed-server); default RAGLINE_EMBED_SERVER in `env`, else DEFAULT_EMBED_SERVER. */
  embedServer?: string,
): Promise<{ embedder?: Embedder; counter: TokenCounter }> {
  const e = spec.embedder;
  if (e.kind === 'hash') {
    const hash = createHashEmbedder({ dims: e.dims });
    return { embedder: roles.includes('embed') ? hash : undefined, counter: hash.tokenCounter };
  }
  if (isHosted(e)) {
    const { embedder, counter } = await hostedEmbedderFor(e, spec.ledger, at, env, embedServer);
    return { embedder: roles.includes('embed') ? embedder : undefined, counter };
  }
  const modelDir = e.modelDir ? at(e.modelDir) : await installedDefaultModelDir(env);
  if (!roles.includes('embed')) return { counter: await loadTokenCounter(modelDir) };
  const model = await createLocalOnnxEmbedder({ modelDir, maxBatchTokens: e.maxBatchTokens });
  return { embedder: withMicroBatching(model, { maxBatchTexts: e.batchSize }), counter: model.tokenCounter };
}

/** The late-chunking embedder of an embed worker: the pipeline's own local model, or a TEI or Jina server. */
async function lateEmbedderFor(spec: PipelineSpec, at: (p: string) => string): Promise<LateChunkEmbedder> {
  const l = spec.lateChunking!;
  if (l.kind === 'tei') return (await import('../connectors/embedders/late/tei.ts')).createTeiLateChunkEmbedder(l);
  if (l.kind === 'jina') return (await import('../connectors/embedders/late/jina.ts')).createJinaLateChunkEmbedder(l);
  const e = spec.embedder;
  if (e.kind !== 'local-onnx') {
    throw new ConnectorError(FailureType.InvalidInput, `lateChunking kind local needs the local-onnx embedder, not ${e.kind}`);
  }
  const modelDir = e.modelDir ? at(e.modelDir) : await installedDefaultModelDir();
  return (await import('../connectors/embedders/late/local.ts')).createLocalLateChunkEmbedder({
    modelDir,
    windowTokens: l.windowTokens,
    overlapTokens: l.overlapTokens,
  });
}

/**
 * One client per sink the pipeline names. Each vendor SDK is loaded only when a pipeline uses it (they are heavy).
 * Credentials are read here, from `env` and from files (relative to `baseDir`, the spec's folder): a missing one fails
 * with a SecretError naming the variable or file.
 */
export async function createSinks(
  spec: PipelineSpec,
  opts: { env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): Promise<Map<string, Sink>> {
  const source: SecretSource = { env: opts.env ?? process.env, baseDir: opts.baseDir };
  const at = (p: string): string => resolve(opts.baseDir ?? '.', p);
  return new Map<string, Sink>(
    await Promise.all(spec.sinks.map(async (s) => [s.name, await createSink(s, source, spec.ledger, at)] as const)),
  );
}

/**
 * BM25 statistics for a sink that computes its sparse vectors itself (Pinecone): a third SQLite file beside the ledger,
 * or tables in the ledger's PostgreSQL schema, so every worker and searcher of the pipeline reads the same counts.
 */
export function createTermStats(spec: LedgerSpec, at: (p: string) => string = (p) => p): TermStats {
  // On its own thread, as the ledger: a lock held by another worker process never stalls this one's heartbeats.
  if (spec.kind === 'sqlite') return createThreadedSqliteTermStats({ path: at(`${spec.path}.sparse`) });
  const { kind: _kind, ...config } = spec;
  return createPostgresTermStats({ ...config, poolSize: Math.min(config.poolSize, 4) });
}

async function createSink(spec: SinkSpec, source: SecretSource, ledger: LedgerSpec, at: (p: string) => string): Promise<Sink> {
  // The connector configs ignore `kind` and `name`.
  const what = `sink ${spec.name}`;
  switch (spec.kind) {
    case 'chroma': {
      const config = chromaSinkConfigOf(spec, what, source);
      return (await import('../connectors/sinks/chroma.ts')).createChromaSink(config);
    }
    case 'weaviate': {
      const config = weaviateSinkConfigOf(spec, what, source);
      return (await import('../connectors/sinks/weaviate.ts')).createWeaviateSink(config);
    }
    case 'milvus': {
      const config = milvusSinkConfigOf(spec, what, source);
      return (await import('../connectors/sinks/milvus.ts')).createMilvusSink(config);
    }
    case 'pinecone': {
      const config = pineconeSinkConfigOf(spec, what, source);
      const { createPineconeSink } = await import('../connectors/sinks/pinecone.ts');
      if (!config.sparse) return createPineconeSink(config);
      const termStats = createTermStats(ledger, at);
      try {
        return createPineconeSink(config, { termStats });
      } catch (err) {
        await termStats.close();
        throw err;
      }
    }
  }
}

/**
 * The ledger a spec names, as a view of the spec's pipeline version; `at` resolves a relative SQLite path against the
 * spec's folder. SQLite runs on its own thread: its synchronous queries and lock waits never stall heartbeats.
 */
export function createLedger(
  spec: Pick<PipelineSpec, 'ledger' | 'name' | 'version'>,
  at: (p: string) => string = (p) => p,
): Ledger {
  const scope = { pipeline: spec.name, version: spec.version };
  if (spec.ledger.kind === 'sqlite') return createThreadedSqliteLedger({ path: at(spec.ledger.path) }, scope);
  const { kind: _kind, ...config } = spec.ledger;
  return createPostgresLedger(config, scope);
}

/** The embedding cache beside the ledger: a second SQLite file next to it, or a table in the same PostgreSQL schema. */
export function createEmbeddingCache(spec: LedgerSpec, at: (p: string) => string = (p) => p): EmbeddingCache {
  if (spec.kind === 'sqlite') return createThreadedSqliteEmbeddingCache({ path: at(`${spec.path}.embeddings`) });
  const { kind: _kind, ...config } = spec;
  // Lookups are one batch per embed call: a few connections per worker are plenty.
  return createPostgresEmbeddingCache({ ...config, poolSize: Math.min(config.poolSize, 4) });
}

/** Builds the connectors one worker process needs. Embed workers load the model; ingest workers only its tokenizer. */
export async function buildPipelineDeps(
  spec: PipelineSpec,
  opts: { roles: WorkerRole[]; s3: S3Access; baseDir: string; extraRoots?: string[]; embedServer?: string },
): Promise<BuiltDeps> {
  const at = (p: string): string => resolve(opts.baseDir, p);
  const { embedder, counter } = await embedderFor(spec, opts.roles, at, process.env, opts.embedServer);
  const s3 = { ...spec.source.s3, ...opts.s3 };
  // Confined: file:// to the spec's roots (and a folder the run named, for an in-process worker), s3:// to its buckets.
  const roots = [...spec.source.local.roots.map(at), ...(opts.extraRoots ?? []).map(at)];
  const sources = [createLocalDirSource({ roots }), createS3Source(s3)];
  const blobs =
    spec.blobStore.kind === 'local-dir'
      ? createLocalDirBlobStore({ root: at(spec.blobStore.root) })
      : createS3BlobStore({ ...spec.blobStore, ...opts.s3, forcePathStyle: true });
  const ledger = createLedger(spec, at);
  const sinks = await createSinks(spec, { baseDir: opts.baseDir });
  // Semantic chunking embeds sentences while chunking, so an ingest worker then loads the model too.
  const chunkEmbedder =
    spec.chunker.kind === 'semantic' ? (embedder ?? (await embedderFor(spec, ['embed'], at)).embedder) : undefined;
  const scorer =
    spec.chunker.kind === 'meta-perplexity' || spec.chunker.kind === 'meta-margin'
      ? await (await import('../connectors/chunkers/meta/scorer.ts')).createPromptScorer(spec.chunker.lm)
      : undefined;
  const chunker = createChunker(spec.chunker, counter, {
    ...(chunkEmbedder
      ? { embed: (texts: string[]) => chunkEmbedder.embedDocuments(texts), embedderId: chunkEmbedder.identity }
      : {}),
    scorer,
  });
  // A model in this process (the local embedder, local late chunking, a local LM for Meta-Chunking) leaves room for
  // one worst-case parse at a time, not two, within the worker's memory bound.
  const localModel =
    (spec.embedder.kind === 'local-onnx' && (opts.roles.includes('embed') || spec.chunker.kind === 'semantic')) ||
    (opts.roles.includes('embed') && spec.lateChunking?.kind === 'local') ||
    ((spec.chunker.kind === 'meta-perplexity' || spec.chunker.kind === 'meta-margin') && spec.chunker.lm.kind === 'local');
  setMaxParseThreads(localModel ? 1 : MAX_PARSE_THREADS);
  const cache = opts.roles.includes('embed') ? createEmbeddingCache(spec.ledger, at) : undefined;
  const late = opts.roles.includes('embed') && spec.lateChunking ? await lateEmbedderFor(spec, at) : undefined;
  return {
    spec,
    sources,
    blobs,
    ledger,
    sinks,
    chunker,
    limits: spec.parser,
    embedder,
    cache,
    late,
    async close() {
      await Promise.allSettled([
        ...sources.map((s) => s.close()),
        blobs.close(),
        ledger.close(),
        ...[...sinks.values()].map((s) => s.close()),
        embedder?.close(),
        chunkEmbedder !== embedder ? chunkEmbedder?.close() : undefined,
        scorer?.close(),
        late?.close(),
        cache?.close(),
      ]);
    },
  };
}
