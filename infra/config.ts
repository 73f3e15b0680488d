import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/** Where the local stack keeps its installs, data and logs, and which ports it uses. */
export interface StackConfig {
  /** Pinned installs (Go binaries, Kafka jars, the Python venv), shared by every checkout. */
  cacheDir: string;
  /** Data, logs and pid files of this checkout's stack. */
  dataDir: string;
  /** Python interpreter used to create the venv for Milvus Lite and Chroma. */
  python: string;
  ports: {
    temporal: number;
    temporalUi: number;
    /** The Temporal server's own Prometheus `/metrics` (its RPCs, heartbeats included). */
    temporalMetrics: number;
    kafka: number;
    kafkaController: number;
    s3: number;
    weaviate: number;
    weaviateGrpc: number;
    milvus: number;
    chroma: number;
    postgres: number;
    prometheus: number;
  };
  s3: { accessKey: string; secretKey: string; eventTopic: string };
  /** The local PostgreSQL server's database and login; `runAs` is the OS user it runs as when the stack runs as root. */
  postgres: { user: string; password: string; database: string; runAs: string };
  temporalNamespace: string;
}

const port = z.coerce.number().int().min(1).max(65535);

const EnvSchema = z.object({
  RAGLINE_CACHE: z.string().optional(),
  RAGLINE_DATA: z.string().optional(),
  RAGLINE_PYTHON: z.string().default('python3'),
  RAGLINE_TEMPORAL_PORT: port.default(7233),
  RAGLINE_TEMPORAL_UI_PORT: port.default(8233),
  RAGLINE_TEMPORAL_METRICS_PORT: port.default(9233),
  RAGLINE_KAFKA_PORT: port.default(9092),
  RAGLINE_KAFKA_CONTROLLER_PORT: port.default(9093),
  RAGLINE_S3_PORT: port.default(7070),
  RAGLINE_WEAVIATE_PORT: port.default(8080),
  RAGLINE_WEAVIATE_GRPC_PORT: port.default(50051),
  RAGLINE_MILVUS_PORT: port.default(19530),
  RAGLINE_CHROMA_PORT: port.default(8000),
  RAGLINE_POSTGRES_PORT: port.default(5432),
  RAGLINE_PROMETHEUS_PORT: port.default(9090),
  RAGLINE_S3_ACCESS_KEY: z.string().min(1).default('ragline'),
  RAGLINE_S3_SECRET_KEY: z.string().min(8).default('ragline-local-secret'),
  RAGLINE_S3_EVENT_TOPIC: z.string().min(1).default('s3-events'),
  RAGLINE_TEMPORAL_NAMESPACE: z.string().min(1).default('ragline'),
  RAGLINE_POSTGRES_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default('ragline'),
  RAGLINE_POSTGRES_PASSWORD: z.string().min(8).default('ragline-local-secret'),
  RAGLINE_POSTGRES_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default('ragline'),
  RAGLINE_POSTGRES_RUN_AS: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/)
    .default('ragline'),
});

export class StackConfigError extends Error {
  override name = 'StackConfigError';
}

/** Reads the stack's settings from the environment once, at the edge, reporting every bad variable together. */
export function loadStackConfig(env: NodeJS.ProcessEnv = process.env, repoRoot = defaultRepoRoot()): StackConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new StackConfigError(`invalid local stack settings:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const xdgCache = env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return {
    cacheDir: resolve(e.RAGLINE_CACHE ?? join(xdgCache, 'ragline')),
    dataDir: resolve(e.RAGLINE_DATA ?? join(repoRoot, '.data')),
    python: e.RAGLINE_PYTHON,
    ports: {
      temporal: e.RAGLINE_TEMPORAL_PORT,
      temporalUi: e.RAGLINE_TEMPORAL_UI_PORT,
      temporalMetrics: e.RAGLINE_TEMPORAL_METRICS_PORT,
      kafka: e.RAGLINE_KAFKA_PORT,
      kafkaController: e.RAGLINE_KAFKA_CONTROLLER_PORT,
      s3: e.RAGLINE_S3_PORT,
      weaviate: e.RAGLINE_WEAVIATE_PORT,
      weaviateGrpc: e.RAGLINE_WEAVIATE_GRPC_PORT,
      milvus: e.RAGLINE_MILVUS_PORT,
      chroma: e.RAGLINE_CHROMA_PORT,
      postgres: e.RAGLINE_POSTGRES_PORT,
      prometheus: e.RAGLINE_PROMETHEUS_PORT,
    },
    s3: {
      accessKey: e.RAGLINE_S3_ACCESS_KEY,
      secretKey: e.RAGLINE_S3_SECRET_KEY,
      eventTopic: e.RAGLINE_S3_EVENT_TOPIC,
    },
    postgres: {
      user: e.RAGLINE_POSTGRES_USER,
      password: e.RAGLINE_POSTGRES_PASSWORD,
      database: e.RAGLINE_POSTGRES_DATABASE,
      runAs: e.RAGLINE_POSTGRES_RUN_AS,
    },
    temporalNamespace: e.RAGLINE_TEMPORAL_NAMESPACE,
  };
}

function defaultRepoRoot(): string {
  return resolve(import.meta.dirname, '..');
}
