import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ChunkerConfig } from '../connectors/chunkers/index.ts';
import { CohereConfig } from '../connectors/embedders/cohere.ts';
import { JinaConfig } from '../connectors/embedders/jina.ts';
import { JinaLateConfig } from '../connectors/embedders/late/jina.ts';
import { OpenAICompatibleConfig } from '../connectors/embedders/openai-compatible.ts';
import { RateLimitsConfig } from '../connectors/embedders/rate-budget.ts';
import { PoolConfig } from '../connectors/embedders/pool.ts';
import { TeiConfig } from '../connectors/embedders/tei.ts';
import { TeiLateConfig } from '../connectors/embedders/late/tei.ts';
import { checkPostgresConnection, PostgresConnectionFields } from '../connectors/ledger/postgres.config.ts';
import { TriggerSpec } from '../connectors/events/trigger-config.ts';
import { RerankerSpec } from '../connectors/rerankers/index.ts';
import { TemporalConfig } from './temporal-config.ts';
import { ScheduleConfig } from './schedule-config.ts';
import { ChromaSinkSpecFields } from '../connectors/sinks/chroma.config.ts';
import { MilvusSinkSpecFields } from '../connectors/sinks/milvus.config.ts';
import { PineconeSinkSpecFields } from '../connectors/sinks/pinecone.config.ts';
import { WeaviateSinkSpecFields } from '../connectors/sinks/weaviate.config.ts';

// Sizes are in tokens of the embedding model's own tokenizer.
const ChunkerSpec = ChunkerConfig;

/** What every served or hosted embedder adds to its provider's settings. */
const hosted = {
  /** Texts per embed call inside the activity (also the cache lookup batch); the provider splits requests further. */
  batchSize: z.number().int().min(1).max(4096).default(256),
  /**
   * The provider's rate limit as a request and token budget every worker shares, so workers slow down together
   * instead of collecting 429s. With a SQLite ledger it lives in the SQLite file `path` (shared by the worker
   * processes of one host); with a PostgreSQL ledger it lives in the ledger's database and schema (shared by every
   * host of the fleet) and `path` is ignored.
   */
  budget: RateLimitsConfig.extend({ path: z.string().default('.data/rate-budget.sqlite') }).optional(),
  /** A model-catalog id whose query and document formats (prefixes, instructions) the embedder applies. */
  catalog: z.string().min(1).optional(),
};

const EmbedderSpec = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('local-onnx'),
    /** Folder with model.onnx, tokenizer.json and model.json; default: the model the bootstrap fetched. */
    modelDir: z.string().optional(),
    // Padded tokens per onnxruntime run. On CPUs small batches are as fast per token and keep the arena small:
    // `bench:embed` gives 4,132 tokens/s at 512 and 3,667 at 1024, and the embed worker peaks ~55 MB lower.
    maxBatchTokens: z.number().int().min(256).default(512),
    /** Texts per embed call inside the activity (also the cache lookup batch). */
    batchSize: z.number().int().min(1).max(4096).default(256),
  }),
  // Served and hosted models. API keys may stay out of the file: workers read OPENAI_API_KEY, COHERE_API_KEY,
  // JINA_API_KEY, MXBAI_API_KEY or ARK_API_KEY when `apiKey` is absent.
  OpenAICompatibleConfig.extend({ kind: z.literal('openai-compatible'), ...hosted }),
  TeiConfig.extend({ kind: z.literal('tei'), ...hosted }),
  // The GPU pool: the model only. Each embed worker sends to the server beside it (`ingest worker --embed-server`,
  // RAGLINE_EMBED_SERVER) and polls only when that server reports this model; the embed task queue is per pipeline
  // version, hence per model. The TEI embedder's settings and defaults otherwise.
  PoolConfig.extend({ kind: z.literal('pool'), ...hosted }),
  CohereConfig.extend({ kind: z.literal('cohere'), ...hosted, apiKey: z.string().min(1).optional() }),
  JinaConfig.extend({ kind: z.literal('jina'), ...hosted, apiKey: z.string().min(1).optional() }),
  // For load and memory tests only: no model, no retrieval quality (see connectors/embedders/hash.ts).
  z.object({
    kind: z.literal('hash'),
    dims: z.number().int().min(8).max(4096).default(384),
    batchSize: z.number().int().min(1).max(4096).default(256),
  }),
]);

const sinkName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'lowercase letters, digits and dashes');

/**
 * A sink: its kind, a name unique in the pipeline, and the connector's own settings, with credentials as references
 * (`{ env: NAME }` or `{ file: path }`, connectors/shared/secret.ts) that workers read when they build the sink.
 */
const SinkSpec = z.discriminatedUnion('kind', [
  ChromaSinkSpecFields.extend({ kind: z.literal('chroma'), name: sinkName }),
  WeaviateSinkSpecFields.extend({ kind: z.literal('weaviate'), name: sinkName }),
  MilvusSinkSpecFields.extend({ kind: z.literal('milvus'), name: sinkName }),
  // The API key may stay out of the file: workers read PINECONE_API_KEY when it is absent.
  PineconeSinkSpecFields.extend({ kind: z.literal('pinecone'), name: sinkName }),
]);
export type SinkSpec = z.infer<typeof SinkSpec>;

const BlobStoreSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local-dir'), root: z.string().default('.data/blobs') }),
  z.object({
    kind: z.literal('s3'),
    bucket: z.string().min(3),
    prefix: z.string().default(''),
    endpoint: z.string().url().optional(),
    region: z.string().default('us-east-1'),
  }),
]);

// Late chunking embeds each chunk in the context of its whole document (an embedding-time step: the chunker still
// decides the boundaries). 'local' uses the pipeline's local-onnx model; 'tei' and 'jina' a served model, which must
// be the same model the embedder uses for queries.
const LateChunkingSpec = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('local'),
    windowTokens: z.number().int().min(8).optional(),
    overlapTokens: z.number().int().min(0).optional(),
    maxChars: z.number().int().min(1).default(4_000_000),
  }),
  TeiLateConfig.extend({ kind: z.literal('tei'), maxChars: z.number().int().min(1).default(4_000_000) }),
  JinaLateConfig.extend({ kind: z.literal('jina'), maxChars: z.number().int().min(1).default(4_000_000) }),
]);
export type LateChunkingSpec = z.infer<typeof LateChunkingSpec>;

const LedgerSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sqlite'), path: z.string().default('.data/ledger.sqlite') }),
  // A database every worker of every host shares; the embedding cache lives beside the ledger in the same schema.
  PostgresConnectionFields.extend({ kind: z.literal('postgres') }).superRefine(checkPostgresConnection),
]);
export type LedgerSpec = z.infer<typeof LedgerSpec>;

/** A pipeline: where documents come from and how they become vectors in which sinks. */
export const SearchSpec = z.object({
  /** Reranks the sink's top `candidates` hits (cross-encoder, hosted API or LLM judge) when a search asks for it. */
  reranker: RerankerSpec.optional(),
  /** Hits asked of the sink for the reranker to reorder (k); the search keeps its top n. */
  candidates: z.number().int().min(1).max(1000).default(50),
  hybrid: z
    .object({
      /** Weight of the vector half: 0 keyword only, 1 vector only. */
      alpha: z.number().min(0).max(1).default(0.5),
      /**
       * `rrf`: reciprocal-rank fusion; `relative-score`: scores scaled to [0, 1], weighed and summed; `convex`
       * (Pinecone only): one sparse-dense query, alpha·dense + (1 − alpha)·BM25.
       */
      fusion: z.enum(['rrf', 'relative-score', 'convex']).default('rrf'),
    })
    .default({ alpha: 0.5, fusion: 'rrf' }),
});
export type SearchSpec = z.output<typeof SearchSpec>;

export const PipelineSpec = z
  .object({
    /** Identifies the pipeline in workflow ids, search attributes and index names. */
    name: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes, starting with a letter'),
    /** Part of every chunk id and index name: bump it to rebuild every document. */
    version: z.number().int().min(1),
    tenant: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . -'),
    /**
     * Where workers may read documents from. Anything else is refused with the non-retryable SourceForbidden before a
     * byte is read: a `file://` uri outside `local.roots` (checked as written and with links resolved), an `s3://`
     * object outside `s3.buckets`.
     */
    source: z
      .object({
        local: z
          .object({
            /** Folders (relative to the spec's folder) that `file://` sources may read. Default: the spec's folder. */
            roots: z.array(z.string().min(1)).default(['.']),
          })
          .default({ roots: ['.'] }),
        s3: z
          .object({
            endpoint: z.string().url().optional(),
            region: z.string().default('us-east-1'),
            forcePathStyle: z.boolean().default(true),
            /**
             * Buckets, or `bucket/prefix`es, that `s3://` sources may read; `*`: every bucket the credentials reach
             * (the default: the credentials are the boundary). Narrow it when workers hold wider credentials.
             */
            buckets: z.array(z.string().min(1)).default(['*']),
          })
          .default({ region: 'us-east-1', forcePathStyle: true, buckets: ['*'] }),
      })
      .default({ local: { roots: ['.'] }, s3: { region: 'us-east-1', forcePathStyle: true, buckets: ['*'] } }),
    parser: z
      .object({
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024 * 1024),
        maxChars: z
          .number()
          .int()
          .positive()
          .default(256 * 1024 * 1024),
        maxDecompressedBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024 * 1024),
        maxPages: z.number().int().positive().default(5000),
      })
      .default({
        maxBytes: 256 * 1024 * 1024,
        maxChars: 256 * 1024 * 1024,
        maxDecompressedBytes: 256 * 1024 * 1024,
        maxPages: 5000,
      }),
    chunker: ChunkerSpec,
    embedder: EmbedderSpec,
    lateChunking: LateChunkingSpec.optional(),
    sinks: z.array(SinkSpec).min(1),
    blobStore: BlobStoreSpec,
    ledger: LedgerSpec,
    concurrency: z
      .object({
        /** Document workflows a source run keeps in flight. */
        documents: z.number().int().min(1).max(1000).default(8),
        /** Objects listed per source page (one continue-as-new per page). */
        pageSize: z.number().int().min(1).max(1000).default(100),
      })
      .default({ documents: 8, pageSize: 100 }),
    /** Blue/green: how long a replaced index version is kept (for rollback) before it is dropped. */
    indexVersions: z
      .object({
        retireAfterMinutes: z
          .number()
          .min(0)
          .default(24 * 60),
      })
      .default({ retireAfterMinutes: 24 * 60 }),
    /**
     * How `ingest search` and the SDK's search query this pipeline's index: a reranker over the sink's candidates,
     * and the weights of hybrid (keyword + vector) search. Read-side only: not part of the pipeline fingerprint.
     */
    search: SearchSpec.optional(),
    /** Event sources `ingest trigger` consumes for this version (Kafka document events, S3 notifications). */
    triggers: z.array(TriggerSpec).optional(),
    /**
     * Periodic runs as Temporal Schedules, applied by `ingest schedule apply` (not by workers). They decide when runs
     * start, not what the vectors are, so they are not part of the pipeline fingerprint.
     */
    schedules: z.array(ScheduleConfig).optional(),
    /** How clients and workers reach Temporal: address, TLS/mTLS, API key, payload encryption. */
    temporal: TemporalConfig.optional(),
  })
  .superRefine((spec, ctx) => {
    const names = spec.sinks.map((s) => s.name);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i)
        ctx.addIssue({ code: 'custom', path: ['sinks', i, 'name'], message: `duplicate sink name ${n}` });
    });
    const schedules = (spec.schedules ?? []).map((s) => s.name);
    schedules.forEach((n, i) => {
      if (schedules.indexOf(n) !== i)
        ctx.addIssue({ code: 'custom', path: ['schedules', i, 'name'], message: `duplicate schedule name ${n}` });
    });
  });
export type PipelineSpec = z.infer<typeof PipelineSpec>;
export type PipelineSpecInput = z.input<typeof PipelineSpec>;

export class PipelineSpecError extends Error {
  override name = 'PipelineSpecError';
  readonly issues: string[];
  constructor(source: string, issues: string[]) {
    super(`invalid pipeline ${source}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.issues = issues;
  }
}

/**
 * Validates a pipeline object, reporting every issue at once with its path. A key the schema does not know (a typo,
 * or a section of a newer version) is an error too, never silently dropped.
 */
export function validatePipelineSpec(input: unknown, source = 'spec'): PipelineSpec {
  const res = PipelineSpec.safeParse(input);
  if (!res.success) {
    throw new PipelineSpecError(
      source,
      res.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  const unknown = unknownKeys(input, res.data, []);
  if (unknown.length > 0) throw new PipelineSpecError(source, unknown);
  return res.data;
}

/**
 * Keys of the input that validation dropped: every object schema here strips what it does not know, so a key present
 * in the input and absent from the output is unknown. Each is named with its path and the closest known key.
 */
function unknownKeys(input: unknown, output: unknown, path: string[]): string[] {
  if (Array.isArray(input) && Array.isArray(output)) {
    return input.flatMap((v, i) => unknownKeys(v, output[i], [...path, String(i)]));
  }
  if (!isPlainObject(input) || !isPlainObject(output)) return [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(output, key)) {
      const near = closest(key, Object.keys(output));
      out.push(`${[...path, key].join('.')}: unknown key${near ? ` (did you mean ${near}?)` : ''}`);
    } else {
      out.push(...unknownKeys(value, output[key], [...path, key]));
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** The known key nearest by edit distance, when it is near enough to be a typo. */
function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Reads a YAML or JSON pipeline file. */
export function loadPipelineSpec(file: string): PipelineSpec {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PipelineSpecError(file, [(err as Error).message]);
  }
  return validatePipelineSpec(raw, file);
}

/** The embedded default: local CPU model, recursive chunker, Chroma, local blob folder, SQLite ledger. */
export function defaultPipelineSpec(opts: { dataDir: string; chromaPort: number; tenant?: string }): PipelineSpec {
  return validatePipelineSpec({
    name: 'default',
    version: 1,
    tenant: opts.tenant ?? 'default',
    // 240 tokens plus the model's [CLS]/[SEP] stay inside MiniLM's 256-token window.
    chunker: { kind: 'recursive', chunkSize: 240, chunkOverlap: 24 },
    embedder: { kind: 'local-onnx' },
    sinks: [{ kind: 'chroma', name: 'chroma', port: opts.chromaPort }],
    blobStore: { kind: 'local-dir', root: `${opts.dataDir}/blobs` },
    ledger: { kind: 'sqlite', path: `${opts.dataDir}/ledger.sqlite` },
  });
}

/** The readers' name for the live index version of a pipeline (an alias or a stored pointer in each sink). */
export function indexAlias(spec: Pick<PipelineSpec, 'name'>): string {
  return spec.name.replace(/[^a-z0-9-]/g, '-');
}

/** The index (collection) name a sink uses for this pipeline version. */
export function indexName(spec: Pick<PipelineSpec, 'name' | 'version'>): string {
  return `${spec.name}-v${spec.version}`.replace(/[^a-z0-9-]/g, '-');
}
