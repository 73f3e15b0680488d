import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { IndexState } from '../../connectors/ledger/ledger.ts';
import { indexAlias, indexName } from '../../pipeline/spec.ts';
import { RaglineClient } from '../../sdk/client.ts';
import { createLedger, createSinks } from '../../workers/build-deps.ts';
import type { PromoteState } from '../../workflows/promote.ts';
import { emptyCounts, type SourceCounts } from '../../workflows/types.ts';
import { normaliseSourceUri, type CliContext } from '../context.ts';
import { follow, startInlineWorkers, summarise, type RunSummary } from './run.ts';

/** A reindex that cannot be done as asked (exit code 1, one line on stderr). */
export class ReindexError extends Error {
  override name = 'ReindexError';
}

export interface ReindexSummary extends RunSummary {
  /** Per sink, the index readers saw before the reindex (undefined: none yet). */
  from: Record<string, string | undefined>;
  /** This spec's index, which readers see afterwards. */
  to: string;
  sources: string[];
}

export interface AbortSummary {
  index: string;
  /** Source runs of this version that were still running and were cancelled. */
  cancelledRuns: string[];
  /** Per sink: the index was dropped, or (other tenants build it too) only this tenant's chunks were removed. */
  sinks: Record<string, 'dropped' | 'cleared'>;
  /** Ledger rows of this version and tenant removed. */
  ledgerRows: number;
}

/** The sources a reindex covers: those named, or else every source the spec's reindex schedules name. */
function sourcesOf(ctx: CliContext, named: string[] | undefined): string[] {
  const sources = named?.length
    ? named.map((s) => normaliseSourceUri(s))
    : [...new Set((ctx.spec.schedules ?? []).filter((s) => s.kind === 'reindex').map((s) => s.source))];
  if (sources.length === 0)
    throw new ReindexError('name the sources to reindex with --source (or declare reindex schedules in the spec)');
  return sources;
}

type Sinks = Awaited<ReturnType<typeof createSinks>>;

/** Per sink, where the readers' alias points now. */
async function aliasTargets(ctx: CliContext, sinks: Sinks): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const [name, sink] of sinks) out[name] = await sink.getAlias(indexAlias(ctx.spec));
  return out;
}

/** The same, with sinks of its own. */
async function liveIndexes(ctx: CliContext): Promise<Record<string, string | undefined>> {
  const sinks = await createSinks(ctx.spec, { baseDir: ctx.baseDir });
  try {
    return await aliasTargets(ctx, sinks);
  } finally {
    await Promise.all([...sinks.values()].map((s) => s.close()));
  }
}

/**
 * `ingest --pipeline v2.yaml reindex`: builds this spec's version beside the live one from its sources (vectors whose
 * model and text are unchanged come from the embedding cache), then promotes it: validated against the ledger for
 * every tenant the switch affects, aliases switched in every sink, the replaced version dropped after the grace period
 * by the promotion workflow. Readers see the old version until the switch and the new one after, never a mix.
 */
export async function reindexCommand(
  ctx: CliContext,
  opts: { source?: string[]; retireAfter?: number; json?: boolean; worker: boolean },
): Promise<ReindexSummary> {
  const sources = sourcesOf(ctx, opts.source);
  const to = indexName(ctx.spec);
  const from = await liveIndexes(ctx);
  if (Object.values(from).every((live) => live === to))
    throw new ReindexError(`readers already see ${to} in every sink: nothing to reindex (ingest run updates it)`);
  const roots = sources.filter((s) => s.startsWith('file://')).map((s) => fileURLToPath(s));
  const inline = opts.worker ? await startInlineWorkers(ctx, roots) : undefined;
  const client = await RaglineClient.connect({ ...ctx.temporal, spec: ctx.spec });
  try {
    const total = emptyCounts();
    for (const source of sources) {
      if (!opts.json) console.error(`building ${to} from ${source}`);
      const counts = await follow(await client.startIngest(source), !opts.json, inline?.embedChild?.failed);
      add(total, counts);
    }
    const summary: ReindexSummary = { ...(await summarise(ctx, total)), from, to, sources };
    let promotion: PromoteState;
    try {
      promotion = await (
        await client.promote({ retireAfterMs: opts.retireAfter === undefined ? undefined : opts.retireAfter * 60_000 })
      ).switched();
    } catch (err) {
      const cause = (err as { cause?: { cause?: Error; message?: string } }).cause;
      const why = cause?.cause?.message ?? cause?.message ?? (err as Error).message;
      throw new ReindexError(
        `${to} is built but was not promoted: ${why}. Readers still see the old version; fix and rerun, promote with ` +
          `ingest promote --accept-loss, or remove it with --abort`,
      );
    }
    summary.promotion = promotion;
    if (opts.json) console.log(JSON.stringify(summary));
    else {
      const d = summary.documents;
      console.log(`built ${to}: ${d.ingested} ingested, ${d.unchanged} unchanged, ${d.failed} failed; ${summary.chunks} chunks`);
      console.log(
        `embeddings: ${summary.embeddings.hits} from cache, ${summary.embeddings.misses} computed (hit rate ${(summary.embeddings.hitRate * 100).toFixed(1)} %)`,
      );
      for (const [sink, was] of Object.entries(from))
        console.log(
          `${sink}: readers now see ${to} (was ${was ?? 'nothing'}); ${was ?? 'it'} is dropped after ${promotion.retireAt ?? '-'}`,
        );
    }
    return summary;
  } finally {
    await client.close();
    await Promise.all([inline?.workers.shutdown(), inline?.embedChild?.stop()]);
  }
}

function add(total: SourceCounts, c: SourceCounts): void {
  for (const k of ['listed', 'ingested', 'unchanged', 'deleted', 'failed', 'handedOff', 'chunks', 'cached'] as const)
    total[k] += c[k];
  for (const [sink, n] of Object.entries(c.upserted)) total.upserted[sink] = (total.upserted[sink] ?? 0) + n;
}

/**
 * `ingest --pipeline v2.yaml reindex --abort`: stops building this version and removes what it built: its running
 * source runs are cancelled, its index is dropped from every sink (only this tenant's chunks, when other tenants build
 * it too) and its ledger rows of this tenant are removed. Refused once readers see the version: that is a rollback.
 */
export async function abortReindex(ctx: CliContext, opts: { json?: boolean }): Promise<AbortSummary> {
  const index = indexName(ctx.spec);
  const alias = indexAlias(ctx.spec);
  const tenant = ctx.spec.tenant;
  const sinks = await createSinks(ctx.spec, { baseDir: ctx.baseDir });
  const closeSinks = () => Promise.all([...sinks.values()].map((s) => s.close()));
  const serving = Object.entries(
    await aliasTargets(ctx, sinks).catch(async (err: unknown) => {
      await closeSinks();
      throw err;
    }),
  ).filter(([, v]) => v === index);
  if (serving.length > 0) {
    await closeSinks();
    throw new ReindexError(
      `readers already see ${index} in ${serving.map(([s]) => s).join(', ')}: roll the promotion back instead of aborting`,
    );
  }
  const client = await RaglineClient.connect({ ...ctx.temporal, spec: ctx.spec });
  const ledger = createLedger(ctx.spec, (p) => resolve(ctx.baseDir, p));
  try {
    const cancelledRuns: string[] = [];
    for (const run of await client.listRuns()) {
      if (run.status !== 'running') continue;
      const handle = client.getIngest(run.sourceUri);
      await handle.cancel();
      // The run waits for its document workflows to clean up before it ends; nothing of it writes after that.
      await handle.result().catch(() => undefined);
      cancelledRuns.push(run.workflowId);
    }
    const all = Object.values(await ledger.counts()).reduce((a, b) => a + b, 0);
    const own = Object.values(await ledger.counts(tenant)).reduce((a, b) => a + b, 0);
    const shared = all > own;
    const out: AbortSummary = { index, cancelledRuns, sinks: {}, ledgerRows: 0 };
    const versions = await ledger.listIndexVersions(alias);
    for (const [name, sink] of sinks) {
      if (shared) {
        for (let after: string | undefined, first = true; first || after; first = false) {
          const page = await ledger.list({ tenant, limit: 500, after });
          for (const r of page.records) await sink.deleteDocument(index, tenant, r.sourceUri);
          after = page.next;
        }
        out.sinks[name] = 'cleared';
        continue;
      }
      await sink.dropIndex(index);
      const known = versions.find((v) => v.sink === name && v.index === index);
      if (known) await ledger.putIndexVersion({ ...known, state: IndexState.retired, updatedAt: new Date().toISOString() });
      out.sinks[name] = 'dropped';
    }
    out.ledgerRows = await ledger.deleteTenant(tenant);
    if (opts.json) console.log(JSON.stringify(out));
    else {
      for (const id of cancelledRuns) console.log(`cancelled ${id}`);
      for (const [name, what] of Object.entries(out.sinks))
        console.log(`${name}: ${what === 'dropped' ? `dropped ${index}` : `removed this tenant's chunks from ${index}`}`);
      console.log(`ledger: ${out.ledgerRows} rows of ${index} for tenant ${tenant} removed`);
    }
    return out;
  } finally {
    await client.close();
    await ledger.close();
    await closeSinks();
  }
}
