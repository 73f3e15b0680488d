import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { EmbedActivities, IngestActivities } from '../../activities/index.ts';
import type { PipelineRef } from '../../workflows/types.ts';
import { stack, uniqueName } from '../support/stack.ts';

let runtime = false;

/** A test environment on the running dev server (real history, real search attributes). */
export async function workflowEnv(): Promise<TestWorkflowEnvironment> {
  if (!runtime) {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtime = true;
  }
  return TestWorkflowEnvironment.createFromExistingServer({
    address: `127.0.0.1:${stack.ports.temporal}`,
    namespace: stack.temporalNamespace,
  });
}

export function testPipeline(taskQueue: string, sinks = ['alpha', 'beta']): PipelineRef {
  return { name: 'wftest', version: 1, tenant: uniqueName('t'), sinks, ingestQueue: taskQueue, embedQueue: taskQueue };
}

export type Calls = Array<{ name: string; input: unknown }>;
type AllActivities = IngestActivities & EmbedActivities;

/**
 * Activities as plain objects recording their calls. Each behaviour can be overridden per test; the defaults model a
 * healthy pipeline for a document of 3 chunks.
 */
export function fakeActivities(
  calls: Calls,
  overrides: Partial<Record<keyof AllActivities, (input: never) => Promise<unknown>>> = {},
): AllActivities {
  const work = { prefix: 'work/x', contentHash: 'h1', bytes: 10, chunksKey: 'work/x/chunks.jsonl', chunks: 3, tokens: 30 };
  const defaults: Record<keyof AllActivities, (input: never) => Promise<unknown>> = {
    fetchAndParse: async () => ({ kind: 'parsed', work, chunks: 3, tokens: 30 }),
    embedChunks: async () => ({ work: { ...work, vectorsKey: 'work/x/vectors.f32', dims: 4 }, embedded: 3, cached: 0 }),
    upsertToSink: async () => ({ upserted: 3, staleDeleted: 0 }),
    deleteFromSink: async () => ({ deleted: 3 }),
    commitDocument: async () => undefined,
    recordFailure: async () => undefined,
    recordCancelled: async () => undefined,
    recordDeleted: async () => undefined,
    listSourcePage: async () => ({ items: [] }),
    sourceHas: async () => false,
    findRemoved: async () => ({ items: [] }),
    cleanupWork: async () => undefined,
    checkIndexVersion: async (input: { sink: string }) => ({ sink: input.sink, count: 3 }),
    switchIndexAlias: async () => ({ previous: 'old-v1' }),
    rollbackIndexAlias: async () => ({ rolledBack: true }),
    retireIndexVersion: async () => ({ dropped: true }),
    describeEmbedder: async () => ({ dims: 4, metric: 'cosine' }),
    reconcileIndex: async () => ({ exists: true, current: true, aliasRestored: false }),
    rebuildIndex: async () => ({ aliasRestored: false }),
    reconcileOrphans: async () => ({ orphans: 0, deleted: 0, skipped: 0, scanned: 0 }),
    reconcileMissing: async () => ({ documents: 0, missing: {}, docs: [] }),
    sweepArtifacts: async () => ({ removed: 0, kept: 0 }),
  };
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries({ ...defaults, ...overrides })) {
    out[name] = async (input: never) => {
      calls.push({ name, input });
      return fn(input);
    };
  }
  return out as unknown as AllActivities;
}

export async function workerFor(env: TestWorkflowEnvironment, taskQueue: string, activities: AllActivities): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? stack.temporalNamespace,
    taskQueue,
    workflowsPath: new URL('../../workflows/index.ts', import.meta.url).pathname,
    activities,
  });
}

export const corrupt = () =>
  ApplicationFailure.nonRetryable('report.pdf is not a valid PDF (Invalid PDF structure)', 'CorruptDocument');

export function names(calls: Calls): string[] {
  return calls.map((c) => c.name);
}

export { uniqueName };
