import type { StackConfig } from './config.ts';
import type { Launch } from './supervisor.ts';

export const SERVICE_NAMES = ['kafka', 's3', 'temporal', 'weaviate', 'milvus', 'chroma', 'postgres', 'prometheus'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface Probe {
  ok: boolean;
  /** The version the running server reports, when it reports one. */
  version?: string;
  detail?: string;
}

export interface ServiceContext {
  config: StackConfig;
  /** Data folder of this service inside the stack's data dir. */
  dataDir: string;
  /** The service's log file (setup steps such as a storage format write there too). */
  logFile: string;
  log: (line: string) => void;
}

/** One local server: how to install it (cached, pinned), launch it, and tell that it is healthy. */
export interface Service {
  name: ServiceName;
  /** The pinned version we install. */
  version: string;
  /** Services that must be healthy before this one starts. */
  after: ServiceName[];
  ports(config: StackConfig): number[];
  /** The address clients connect to. */
  endpoint(config: StackConfig): string;
  /** Other addresses worth knowing (a web UI, a second protocol). */
  extra?(config: StackConfig): Record<string, string>;
  /** Idempotent; returns quickly when the pinned install is already in the cache. */
  install(ctx: ServiceContext): Promise<void>;
  /** Prepares config and data files, then says how to run the server. */
  launch(ctx: ServiceContext): Promise<Launch>;
  probe(config: StackConfig): Promise<Probe>;
  /** How long a cold start may take before we call it failed. */
  startTimeoutMs: number;
}

/** A GET that never throws: the status, or 0 when nothing answered. */
export async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: '' };
  }
}
