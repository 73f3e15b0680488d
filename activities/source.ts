import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import type { PipelineRef } from '../workflows/types.ts';
import { sourceFor, type PipelineDeps } from './deps.ts';
import type { WorkRef } from './work.ts';

export async function listSourcePage(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; cursor?: string; pageSize: number },
): Promise<{ items: Array<{ uri: string; version: string }>; cursor?: string }> {
  const page = await sourceFor(deps, input.sourceUri).list(input.sourceUri, { cursor: input.cursor, pageSize: input.pageSize });
  // Only what the workflow needs crosses history: uri and version, not sizes or metadata.
  const items = page.items.map((i) => ({ uri: i.uri, version: i.version }));
  return page.cursor ? { items, cursor: page.cursor } : { items };
}

/** Whether the source still has the object (a delete event is only applied when it does not). */
export async function sourceHas(deps: PipelineDeps, input: { pipeline: PipelineRef; sourceUri: string }): Promise<boolean> {
  try {
    const opened = await sourceFor(deps, input.sourceUri).open(input.sourceUri);
    opened.body.destroy();
    return true;
  } catch (err) {
    if (err instanceof ConnectorError && err.type === FailureType.NotFound) return false;
    throw err;
  }
}

export async function cleanupWork(deps: PipelineDeps, input: { work: WorkRef }): Promise<void> {
  await deps.blobs.deletePrefix(`${input.work.prefix}/`);
}
