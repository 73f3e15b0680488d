import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Ledger } from '../../connectors/ledger/ledger.ts';
import type { Sink } from '../../connectors/sinks/sink.ts';
import { indexAlias, indexName, validatePipelineSpec, type PipelineSpec, type PipelineSpecInput } from '../../pipeline/spec.ts';
import { RaglineClient } from '../../sdk/client.ts';
import { resolveTemporalTarget, type TemporalTarget } from '../../sdk/temporal-connection.ts';
import { createLedger, createSinks, type WorkerRole } from '../../workers/build-deps.ts';
import { startWorkers, type RunningWorkers, type WorkerOptions } from '../../workers/worker.ts';
import { stack, uniqueName } from '../support/stack.ts';

export const s3Access = {
  endpoint: `http://127.0.0.1:${stack.ports.s3}`,
  accessKeyId: stack.s3.accessKey,
  secretAccessKey: stack.s3.secretKey,
};

/** The environment for an `ingest` CLI process (run, worker, status) aimed at the running stack. */
export function cliEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: `127.0.0.1:${stack.ports.temporal}`,
    AWS_ENDPOINT_URL_S3: s3Access.endpoint,
    AWS_ACCESS_KEY_ID: s3Access.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3Access.secretAccessKey,
  };
}

/** A pipeline of its own (name, tenant, bucket, collection, ledger) on the running stack, with in-process workers. */
export class Harness {
  spec: PipelineSpec;
  readonly dataDir: string;
  readonly bucket: string;
  readonly s3: S3Client;
  /** The ledger as the first version opened it; `ledger` is the view of the current version. */
  private readonly ledgerDb: Ledger;
  sink!: Sink;
  client!: RaglineClient;
  workers?: RunningWorkers;

  constructor(overrides: Partial<PipelineSpecInput> = {}) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'ragline-e2e-'));
    this.bucket = uniqueName('e2e');
    this.spec = validatePipelineSpec({
      name: uniqueName('e2e').slice(0, 30),
      version: 1,
      tenant: uniqueName('tenant'),
      chunker: { kind: 'recursive', chunkSize: 64, chunkOverlap: 8 },
      embedder: { kind: 'local-onnx' },
      sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
      blobStore: { kind: 'local-dir', root: join(this.dataDir, 'blobs') },
      ledger: { kind: 'sqlite', path: join(this.dataDir, 'ledger.sqlite') },
      ...overrides,
    });
    this.s3 = new S3Client({
      endpoint: s3Access.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: s3Access.accessKeyId, secretAccessKey: s3Access.secretAccessKey },
    });
    this.ledgerDb = createLedger(this.spec);
  }

  /** The ledger's rows of the current pipeline version (after `upgrade()`, the new version's). */
  get ledger(): Ledger {
    return this.ledgerDb.forVersion(this.spec.version);
  }

  /**
   * The running stack's Temporal (or the spec's own address), with the spec's `temporal` block (TLS, API key,
   * encryption) applied. An ambient TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE does not move the tests off the stack.
   */
  get temporal(): TemporalTarget {
    return resolveTemporalTarget(this.spec.temporal, {
      env: { ...process.env, TEMPORAL_ADDRESS: undefined, TEMPORAL_NAMESPACE: undefined },
      baseDir: this.dataDir,
      defaults: { address: `127.0.0.1:${stack.ports.temporal}`, namespace: stack.temporalNamespace },
    });
  }

  get index(): string {
    return indexName(this.spec);
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async start(opts: { workers?: boolean } = {}): Promise<this> {
    this.sink = (await createSinks(this.spec)).get('chroma')!;
    await this.s3.send(new CreateBucketCommand({ Bucket: this.bucket }));
    if (opts.workers !== false) await this.startWorkers();
    this.client = await RaglineClient.connect({ ...this.temporal, spec: this.spec });
    return this;
  }

  async startWorkers(): Promise<void> {
    this.workers = await startWorkers(this.workerOptions(['ingest', 'embed']));
  }

  /** An in-process worker's options for this pipeline on the stack: these roles, quiet logs, and `more`. */
  workerOptions(roles: WorkerRole[], more: Partial<WorkerOptions> = {}): WorkerOptions {
    return { ...this.temporal, spec: this.spec, roles, s3: s3Access, baseDir: this.dataDir, logLevel: 'ERROR', ...more };
  }

  /**
   * The next version of the same pipeline (same name, tenant, bucket, ledger and blob folder) with the given changes:
   * the workers and client restart on the new spec.
   */
  async upgrade(overrides: Partial<PipelineSpecInput> = {}): Promise<void> {
    await this.client?.close();
    await this.workers?.shutdown();
    this.spec = validatePipelineSpec({ ...this.spec, version: this.spec.version + 1, ...overrides });
    await this.startWorkers();
    this.client = await RaglineClient.connect({ ...this.temporal, spec: this.spec });
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
  }

  async remove(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** Ingests the whole bucket (or a prefix of it) and returns the run's counts. */
  async ingestAll(prefix = '') {
    const handle = await this.client.startIngest(`s3://${this.bucket}/${prefix}`);
    return handle.result();
  }

  /**
   * Removes this pipeline's alias, then its indexes of `versions`, from `sinks` (default: the Chroma sink, this
   * version). The alias goes first: a sink refuses to drop an index an alias points at.
   */
  async dropIndexes(sinks: Iterable<Sink> = [this.sink], versions: number[] = [this.spec.version]): Promise<void> {
    for (const sink of sinks) {
      await sink.deleteAlias(indexAlias(this.spec)).catch(() => undefined);
      for (const version of versions) await sink.dropIndex(indexName({ ...this.spec, version })).catch(() => undefined);
    }
  }

  async sinkIds(key: string): Promise<string[]> {
    return (await this.sink.idsOfDocument(this.index, this.spec.tenant, this.uri(key))).sort();
  }

  async stop(): Promise<void> {
    await this.client?.close();
    await this.workers?.shutdown();
    await this.sink?.close();
    await this.ledgerDb.close();
    this.s3.destroy();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
