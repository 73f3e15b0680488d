import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import { documentWorkflowId } from '../pipeline/ids.ts';
import type { PipelineRef } from '../workflows/types.ts';
import { sourceFor, type PipelineDeps } from './deps.ts';
import type { WorkRef } from './work.ts';

export async function listSourcePage(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; cursor?: string; pageSize: number },
): Promise<{ items: Array<{ uri: string; version: string; workflowId: string }>; cursor?: string }> {
  const page = await sourceFor(deps, input.sourceUri).list(input.sourceUri, { cursor: input.cursor, pageSize: input.pageSize });
  // Only what the workflow needs crosses history: uri, version and the document workflow's id (made here: it hashes
  // long uris, which the workflow sandbox cannot), not sizes or metadata.
  const items = page.items.map((i) => ({
    uri: i.uri,
    version: i.version,
    workflowId: documentWorkflowId(input.pipeline, i.uri),
  }));
  return page.cursor ? { items, cursor: page.cursor } : { items };
}

/** Whether the source still has the object (a delete event is only applied when it does not): a HEAD, not a GET. */
export async function sourceHas(deps: PipelineDeps, input: { pipeline: PipelineRef; sourceUri: string }): Promise<boolean> {
  try {
    await sourceFor(deps, input.sourceUri).stat(input.sourceUri);
    return true;
  } catch (err) {
    if (err instanceof ConnectorError && err.type === FailureType.NotFound) return false;
    throw err;
  }
}

export async function cleanupWork(deps: PipelineDeps, input: { work: WorkRef }): Promise<void> {
  await deps.blobs.deletePrefix(`${input.work.prefix}/`);
}

/**
 * One page of documents the ledger holds (not deleted) under `sourceUri` that the source no longer has. Checks each
 * against the source, so the cost is one existence check per known document per run.
 */
export async function findRemoved(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; after?: string; limit: number },
): Promise<{ items: Array<{ uri: string; workflowId: string }>; next?: string }> {
  const page = await deps.ledger.list({
    tenant: input.pipeline.tenant,
    sourcePrefix: input.sourceUri,
    limit: input.limit,
    after: input.after,
  });
  const items: Array<{ uri: string; workflowId: string }> = [];
  for (const r of page.records) {
    if (r.status === 'deleted') continue;
    if (!(await sourceHas(deps, { pipeline: input.pipeline, sourceUri: r.sourceUri }))) {
      items.push({ uri: r.sourceUri, workflowId: documentWorkflowId(input.pipeline, r.sourceUri) });
    }
  }
  return page.next ? { items, next: page.next } : { items };
}
