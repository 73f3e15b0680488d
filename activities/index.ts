import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { pipelineRef } from '../pipeline/ref.ts';
import type { PipelineRef } from '../workflows/types.ts';
import type { PipelineDeps } from './deps.ts';
import { describeEmbedder, embedChunks } from './embed.ts';
import { atEdge } from './failures.ts';
import { fetchAndParse } from './fetch-and-parse.ts';
import { checkIndexVersion, retireIndexVersion, rollbackIndexAlias, switchIndexAlias } from './index-versions.ts';
import { commitDocument, recordCancelled, recordDeleted, recordFailure } from './ledger.ts';
import { rebuildIndex, reconcileIndex, reconcileMissing, reconcileOrphans, sweepArtifacts } from './reconcile.ts';
import { deleteFromSink, upsertToSink } from './sinks.ts';
import { cleanupWork, findRemoved, listSourcePage, sourceHas } from './source.ts';

type Bound<F> = F extends (deps: PipelineDeps, ...args: infer A) => infer R ? (...args: A) => R : never;
function bind<F extends (deps: PipelineDeps, ...args: never[]) => Promise<unknown>>(deps: PipelineDeps, f: F): Bound<F> {
  const own = pipelineRef(deps.spec);
  return ((...args: never[]) => {
    checkPipeline(own, (args[0] as { pipeline?: PipelineRef } | undefined)?.pipeline);
    return f(deps, ...args);
  }) as Bound<F>;
}

/**
 * Task queues are per pipeline version, so work of another version never reaches this worker; a spec changed without
 * a version bump (another chunker or model under the same version) still could, and is refused rather than chunked
 * or embedded with settings the workflow did not ask for.
 */
function checkPipeline(own: PipelineRef, asked: PipelineRef | undefined): void {
  if (!asked) return;
  if (asked.name !== own.name || asked.version !== own.version || (asked.fingerprint ?? own.fingerprint) !== own.fingerprint) {
    throw new ConnectorError(
      FailureType.PipelineMismatch,
      `this worker runs ${own.name} v${own.version} (settings ${own.fingerprint}), the work is for ${asked.name} ` +
        `v${asked.version} (settings ${asked.fingerprint ?? 'unknown'}): run workers with the same pipeline spec as the run`,
    );
  }
}

/** The CPU-side activities of one pipeline (ingest task queue). */
export function createIngestActivities(deps: PipelineDeps) {
  return atEdge({
    fetchAndParse: bind(deps, fetchAndParse),
    upsertToSink: bind(deps, upsertToSink),
    deleteFromSink: bind(deps, deleteFromSink),
    commitDocument: bind(deps, commitDocument),
    recordFailure: bind(deps, recordFailure),
    recordCancelled: bind(deps, recordCancelled),
    recordDeleted: bind(deps, recordDeleted),
    listSourcePage: bind(deps, listSourcePage),
    sourceHas: bind(deps, sourceHas),
    findRemoved: bind(deps, findRemoved),
    cleanupWork: bind(deps, cleanupWork),
    checkIndexVersion: bind(deps, checkIndexVersion),
    switchIndexAlias: bind(deps, switchIndexAlias),
    rollbackIndexAlias: bind(deps, rollbackIndexAlias),
    retireIndexVersion: bind(deps, retireIndexVersion),
    reconcileIndex: bind(deps, reconcileIndex),
    rebuildIndex: bind(deps, rebuildIndex),
    reconcileOrphans: bind(deps, reconcileOrphans),
    reconcileMissing: bind(deps, reconcileMissing),
    sweepArtifacts: bind(deps, sweepArtifacts),
  });
}

/** The embedding activity (embed task queue: one worker per GPU server, or the local CPU model). */
export function createEmbedActivities(deps: PipelineDeps) {
  return atEdge({ embedChunks: bind(deps, embedChunks), describeEmbedder: bind(deps, describeEmbedder) });
}

export type IngestActivities = ReturnType<typeof createIngestActivities>;
export type EmbedActivities = ReturnType<typeof createEmbedActivities>;
