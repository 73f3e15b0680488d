import { Context } from '@temporalio/activity';
import { heartbeat } from './heartbeat.ts';
import { IndexState, type DocumentRecord } from '../connectors/ledger/ledger.ts';
import { ConnectorError } from '../connectors/shared/errors.ts';
import type { ScannedChunk } from '../connectors/sinks/sink.ts';
import { documentWorkflowId } from '../pipeline/ids.ts';
import { indexAlias, indexName } from '../pipeline/spec.ts';
import type { PipelineRef } from '../workflows/types.ts';
import { sinkFor, type PipelineDeps } from './deps.ts';

// Reconciliation: compares what the ledger says each sink holds with what each sink holds, and repairs the drift.
// Both sides are read a page at a time (the ledger by document, a sink by its own scan order), so memory stays bounded
// however large the index. The ledger is never written here: documents are repaired by their own workflows (a
// `repair` upsert event), so a repair never races an event applied to the same document.

/** Chunks of one scan page; each page costs one ledger read per distinct document in it. */
const SCAN_PAGE = 500;
/** How long one orphan-scan activity runs before it returns its cursor (the workflow calls it again). */
const SCAN_BUDGET_MS = 30_000;

const live = (r: DocumentRecord | undefined): r is DocumentRecord =>
  r !== undefined && (r.status === 'ingested' || r.status === 'unchanged');

export interface IndexCheck {
  /** The sink has this version's index. */
  exists: boolean;
  /** The ledger records this index as the one readers see. */
  current: boolean;
  /** Where the readers' alias points now (undefined: no alias). */
  alias?: string;
  /** The alias was pointed back at this index (it is the current version and the alias had gone). */
  aliasRestored: boolean;
}

/** Whether this version's index exists in one sink, and (unless a dry run) points a lost alias back at it. */
export async function reconcileIndex(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; dryRun: boolean },
): Promise<IndexCheck> {
  const sink = sinkFor(deps, input.sink);
  const index = indexName(input.pipeline);
  const alias = indexAlias(input.pipeline);
  const exists = await sink.hasIndex(index);
  const versions = await deps.ledger.listIndexVersions(alias);
  const current = versions.some((v) => v.sink === input.sink && v.index === index && v.state === IndexState.current);
  // An alias left pointing at a dropped collection (Milvus Lite allows that drop) reads as no alias: it is moved back.
  let pointed = await sink.getAlias(alias).catch((err: unknown) => {
    if (current && err instanceof ConnectorError && !err.retryable) return undefined;
    throw err;
  });
  let aliasRestored = false;
  // Whoever dropped the collection removed its alias first (a Milvus server refuses to drop an aliased collection) or
  // left it dangling (Milvus Lite, Weaviate, Chroma's pointer): readers of the current version have nothing until the
  // alias points at the remade index again.
  if (exists && current && pointed !== index && !input.dryRun) {
    await sink.setAlias(alias, index);
    pointed = index;
    aliasRestored = true;
  }
  return { exists, current, ...(pointed === undefined ? {} : { alias: pointed }), aliasRestored };
}

/** Makes this version's index again (empty), and the alias too when the ledger says readers use this version. */
export async function rebuildIndex(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sink: string; dims: number; metric: 'cosine' | 'dot' | 'l2' },
): Promise<{ aliasRestored: boolean }> {
  const sink = sinkFor(deps, input.sink);
  const index = indexName(input.pipeline);
  await sink.ensureIndex({ name: index, dims: input.dims, metric: input.metric });
  const check = await reconcileIndex(deps, { pipeline: input.pipeline, sink: input.sink, dryRun: false });
  return { aliasRestored: check.aliasRestored };
}

export interface OrphanScan {
  /** Orphan chunks found by this call, deleted (not in a dry run), and left because their document was busy. */
  orphans: number;
  deleted: number;
  skipped: number;
  scanned: number;
  /** Where the next call starts, and the chunks deleted since that cursor was issued; absent when the scan is over. */
  cursor?: string;
  deletedSince?: number;
}

interface ScanBeat {
  cursor?: string;
  deletedSince: number;
  totals: Omit<OrphanScan, 'cursor'>;
}

/**
 * Scans one sink's index for chunks no live document of the ledger owns (a document the ledger does not know, one it
 * records deleted, or an id its record does not list) and deletes them. Documents the ledger marks failed, cancelled or
 * still processing are left alone, and so is any document whose workflow is running (its new chunks reach the ledger only
 * at commit). Runs for up to SCAN_BUDGET_MS, heartbeating its cursor so a retry resumes where it stopped.
 */
export async function reconcileOrphans(
  deps: PipelineDeps,
  input: {
    pipeline: PipelineRef;
    sink: string;
    dryRun: boolean;
    cursor?: string;
    deletedSince?: number;
    sourcePrefix?: string;
  },
): Promise<OrphanScan> {
  const ctx = Context.current();
  const { pipeline } = input;
  const sink = sinkFor(deps, input.sink);
  const index = indexName(pipeline);
  const beat = (ctx.info.heartbeatDetails as ScanBeat | undefined) ?? {
    cursor: input.cursor,
    deletedSince: input.deletedSince ?? 0,
    totals: { orphans: 0, deleted: 0, skipped: 0, scanned: 0 },
  };
  const { totals } = beat;
  let { cursor, deletedSince } = beat;
  const until = Date.now() + SCAN_BUDGET_MS;
  for (;;) {
    const page = await sink.scanChunks(index, { tenant: pipeline.tenant, limit: SCAN_PAGE, cursor, deletedSince });
    deletedSince = 0;
    totals.scanned += page.chunks.length;
    const byDoc = new Map<string, string[]>();
    for (const c of page.chunks) {
      if (input.sourcePrefix && !c.sourceUri.startsWith(input.sourcePrefix)) continue;
      const ids = byDoc.get(c.sourceUri) ?? [];
      ids.push(c.id);
      byDoc.set(c.sourceUri, ids);
    }
    for (const [uri, ids] of byDoc) {
      const rec = await deps.ledger.get(pipeline.tenant, uri);
      if (rec?.status === 'failed' || rec?.status === 'processing' || rec?.status === 'cancelled') continue;
      const owned = live(rec) ? new Set(rec.chunkIds) : new Set<string>();
      const orphans = ids.filter((id) => !owned.has(id));
      if (orphans.length === 0) continue;
      totals.orphans += orphans.length;
      if (input.dryRun) continue;
      if (await documentBusy(ctx, pipeline, uri)) {
        totals.skipped += orphans.length;
        continue;
      }
      await sink.deleteIds(index, orphans);
      totals.deleted += orphans.length;
      deletedSince += orphans.length;
    }
    cursor = page.cursor;
    heartbeat({ cursor, deletedSince, totals } satisfies ScanBeat);
    if (cursor === undefined || Date.now() > until) break;
  }
  // The next call starts at `cursor`, stepping back over what this call deleted after its last page.
  return cursor === undefined ? { ...totals } : { ...totals, cursor, deletedSince };
}

/** Whether the document's workflow is running now (its chunks may be ahead of the ledger). */
async function documentBusy(ctx: Context, pipeline: PipelineRef, sourceUri: string): Promise<boolean> {
  try {
    const d = await ctx.client.workflow.getHandle(documentWorkflowId(pipeline, sourceUri)).describe();
    return d.status.name === 'RUNNING';
  } catch (err) {
    if ((err as Error)?.name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}

export interface MissingDoc {
  uri: string;
  workflowId: string;
  /** Chunks missing per sink. */
  missing: Record<string, number>;
}

export interface MissingPage {
  /** Live documents checked on this page. */
  documents: number;
  /** Missing chunks per sink on this page. */
  missing: Record<string, number>;
  docs: MissingDoc[];
  next?: string;
}

/**
 * One ledger page of live documents checked against every sink: the chunk ids the ledger records that a sink lacks.
 * `absent` sinks have no index at all (a dry run does not rebuild it): every chunk counts as missing there.
 */
export async function reconcileMissing(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sinks: string[]; absent: string[]; after?: string; limit: number; sourcePrefix?: string },
): Promise<MissingPage> {
  const { pipeline } = input;
  const index = indexName(pipeline);
  const page = await deps.ledger.list({
    tenant: pipeline.tenant,
    limit: input.limit,
    after: input.after,
    ...(input.sourcePrefix ? { sourcePrefix: input.sourcePrefix } : {}),
  });
  const docs = page.records.filter(live);
  const chunks: ScannedChunk[] = docs.flatMap((r) => r.chunkIds.map((id) => ({ id, sourceUri: r.sourceUri })));
  const missingBy = new Map<string, Record<string, number>>();
  const totals: Record<string, number> = {};
  for (const name of [...input.sinks, ...input.absent]) {
    const present = input.absent.includes(name)
      ? new Set<string>()
      : new Set(await sinkFor(deps, name).findIds(index, pipeline.tenant, chunks));
    totals[name] = 0;
    for (const r of docs) {
      const n = r.chunkIds.filter((id) => !present.has(id)).length;
      if (n === 0) continue;
      totals[name] += n;
      const m = missingBy.get(r.sourceUri) ?? {};
      m[name] = n;
      missingBy.set(r.sourceUri, m);
    }
    heartbeat();
  }
  const out: MissingPage = {
    documents: docs.length,
    missing: totals,
    docs: [...missingBy].map(([uri, missing]) => ({ uri, workflowId: documentWorkflowId(pipeline, uri), missing })),
  };
  return page.next ? { ...out, next: page.next } : out;
}

/**
 * The janitor: intermediate artifacts (`work/{tenant}/{document}/{run}/`) older than `olderThanMs` whose workflow run
 * is not running are removed. A document workflow removes its own artifacts when it commits, fails or is cancelled; a
 * terminated or reset run cannot, and leaves them here.
 */
export async function sweepArtifacts(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; dryRun: boolean; olderThanMs: number },
): Promise<{ removed: number; kept: number }> {
  const ctx = Context.current();
  const root = `work/${input.pipeline.tenant}/`;
  const runs = new Map<string, string>();
  for await (const key of deps.blobs.list(root)) {
    const parts = key.slice(root.length).split('/');
    if (parts.length < 3) continue;
    const prefix = `${root}${parts[0]}/${parts[1]}/`;
    if (!runs.has(prefix)) runs.set(prefix, key);
  }
  let removed = 0;
  let kept = 0;
  const cutoff = Date.now() - input.olderThanMs;
  for (const [prefix, firstKey] of runs) {
    const runId = prefix.slice(root.length).split('/')[1]!;
    const old = (await deps.blobs.modifiedAt(firstKey)).getTime() < cutoff;
    if (!old || (await runIsRunning(ctx, runId))) {
      kept++;
      continue;
    }
    if (!input.dryRun) await deps.blobs.deletePrefix(prefix);
    removed++;
    heartbeat({ removed });
  }
  return { removed, kept };
}

async function runIsRunning(ctx: Context, runId: string): Promise<boolean> {
  // Artifact folders are named after the workflow run that wrote them; a run id is unique across workflows.
  for await (const w of ctx.client.workflow.list({ query: `RunId = "${runId.replace(/["\\]/g, '')}"` })) {
    if (w.status.name === 'RUNNING') return true;
  }
  return false;
}
