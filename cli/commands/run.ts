import { fileURLToPath } from 'node:url';
import { SingleBar, Presets } from 'cli-progress';
import { indexName } from '../../pipeline/spec.ts';
import { RaglineClient } from '../../sdk/client.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { embedsLocally, startEmbedChild, type EmbedChild } from '../../workers/embed-child.ts';
import { startWorkers, type RunningWorkers } from '../../workers/worker.ts';
import type { PromoteState } from '../../workflows/promote.ts';
import type { SourceCounts } from '../../workflows/types.ts';
import { normaliseSourceUri, type CliContext } from '../context.ts';
import { formatDuration, progressFigures } from '../progress.ts';

export interface RunOptions {
  source: string;
  wait?: boolean;
  json?: boolean;
  /** Run the pipeline's workers inside this process (default) instead of relying on `ingest worker` processes. */
  worker?: boolean;
  /** After the run, promote this pipeline version (blue/green): validate, then switch readers to it. */
  promote?: boolean;
}

export interface RunSummary {
  documents: { ingested: number; unchanged: number; deleted: number; failed: number };
  chunks: number;
  sinks: Record<string, { upserted: number; count: number }>;
  /**
   * The embedding cache over this run's chunks: `hits` came from the cache, `misses` were embedded. Unchanged
   * documents are skipped before embedding and count in neither.
   */
  embeddings: { hits: number; misses: number; hitRate: number };
  /** With --promote: the promotion's state once readers switched. */
  promotion?: PromoteState;
  /**
   * When the workers ran in this process: its peak resident memory so far (the kernel's maxrss), in MB; and when the
   * embed worker ran beside it as a child process (a local model), that process's peak.
   */
  worker?: { peakRssMb: number; embedPeakRssMb?: number };
}

/**
 * The pipeline's workers inside this process (ingest role, and embed unless a local model embeds in a child process
 * of its own: the model and the worst document's parse then never meet in one process's memory). Both start at once;
 * a child that fails to start stops the command before it begins. `extraRoots`: folders the workers may read.
 */
export async function startInlineWorkers(
  ctx: CliContext,
  extraRoots: string[],
): Promise<{ workers: RunningWorkers; embedChild?: EmbedChild }> {
  const child = embedsLocally(ctx.spec) ? startEmbedChild(ctx.globalArgs) : undefined;
  child?.catch(() => undefined);
  const workers = await startWorkers({
    ...ctx.temporal,
    spec: ctx.spec,
    roles: child ? ['ingest'] : ['ingest', 'embed'],
    s3: ctx.s3,
    baseDir: ctx.baseDir,
    extraRoots,
    bundleCacheDir: ctx.stack.cacheDir,
  });
  try {
    return { workers, embedChild: await child };
  } catch (err) {
    await workers.shutdown();
    throw err;
  }
}

/** `ingest run --source URI`: starts a source run; with --wait/--json follows it to the end. */
export async function runCommand(ctx: CliContext, opts: RunOptions): Promise<RunSummary | undefined> {
  const sourceUri = normaliseSourceUri(opts.source);
  const wait = opts.wait || opts.json || opts.promote;
  const inline =
    opts.worker !== false && wait
      ? await startInlineWorkers(ctx, sourceUri.startsWith('file://') ? [fileURLToPath(sourceUri)] : [])
      : undefined;
  const workers = inline?.workers;
  const embedChild = inline?.embedChild;
  const client = await RaglineClient.connect({ ...ctx.temporal, spec: ctx.spec });
  try {
    const handle = await client.startIngest(sourceUri);
    if (!wait) {
      console.log(
        `started ${handle.workflowId}; follow it in the Temporal UI or with: ingest run --source ${opts.source} --wait`,
      );
      return undefined;
    }
    // An embed worker that dies mid-run would leave the run waiting for ever: its exit ends the wait, with its reason.
    const counts = await follow(handle, !opts.json, embedChild?.failed);
    const summary = await summarise(ctx, counts);
    if (workers) {
      const embedPeakRssMb = embedChild?.peakRssMb();
      summary.worker = {
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
        ...(embedPeakRssMb === undefined ? {} : { embedPeakRssMb }),
      };
    }
    // A run with failed documents still promotes: the failed ones keep no chunks in the new version, and the
    // completeness check counts only live documents. The operator sees the failures in the summary.
    if (opts.promote) summary.promotion = await (await client.promote()).switched();
    if (opts.json) console.log(JSON.stringify(summary));
    else printSummary(summary, counts);
    return summary;
  } finally {
    await client.close();
    await Promise.all([workers?.shutdown(), embedChild?.stop()]);
  }
}

export async function follow(
  handle: Awaited<ReturnType<RaglineClient['startIngest']>>,
  showBar: boolean,
  abort?: Promise<never>,
): Promise<SourceCounts> {
  const bar =
    showBar && process.stderr.isTTY
      ? new SingleBar(
          {
            format: ' {bar} {value}/{total} documents | {chunks} chunks | {rate} docs/s | ETA {left} | {status}',
            stream: process.stderr,
          },
          Presets.shades_classic,
        )
      : undefined;
  bar?.start(1, 0, { status: 'listing', chunks: 0, rate: '0.0', left: '?' });
  let stop = false;
  const poll = (async () => {
    while (!stop) {
      try {
        const p = await handle.progress();
        const f = progressFigures(p, Date.now());
        bar?.setTotal(Math.max(1, f.listed));
        bar?.update(f.finished, {
          chunks: f.chunks,
          rate: f.docsPerSecond.toFixed(1),
          left: formatDuration(f.etaSeconds),
          status: `${p.ingested} ingested, ${p.unchanged} unchanged, ${p.failed} failed${p.paused ? ' (paused)' : ''}`,
        });
      } catch {
        // the run may be between continue-as-new runs; the next poll sees the new one
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  try {
    return await (abort ? Promise.race([handle.result(), abort]) : handle.result());
  } finally {
    stop = true;
    await poll;
    bar?.stop();
  }
}

export async function summarise(ctx: CliContext, counts: SourceCounts): Promise<RunSummary> {
  const sinks: RunSummary['sinks'] = {};
  for (const [name, sink] of await createSinks(ctx.spec, { baseDir: ctx.baseDir })) {
    try {
      const count = await sink.count(indexName(ctx.spec), { tenant: ctx.spec.tenant }).catch(() => 0);
      sinks[name] = { upserted: counts.upserted[name] ?? 0, count };
    } finally {
      await sink.close();
    }
  }
  return {
    documents: { ingested: counts.ingested, unchanged: counts.unchanged, deleted: counts.deleted, failed: counts.failed },
    chunks: counts.chunks,
    sinks,
    embeddings: {
      hits: counts.cached,
      misses: Math.max(0, counts.chunks - counts.cached),
      hitRate: counts.chunks > 0 ? +(counts.cached / counts.chunks).toFixed(4) : 0,
    },
  };
}

function printSummary(s: RunSummary, counts: SourceCounts): void {
  const d = s.documents;
  console.log(
    `documents: ${d.ingested} ingested, ${d.unchanged} unchanged, ${d.deleted} deleted, ${d.failed} failed (${counts.listed} listed)`,
  );
  const e = s.embeddings;
  console.log(`chunks: ${s.chunks} written, ${e.hits} embeddings from cache (hit rate ${(e.hitRate * 100).toFixed(1)} %)`);
  for (const [name, v] of Object.entries(s.sinks))
    console.log(`sink ${name}: ${v.upserted} upserted, ${v.count} stored for this tenant`);
  if (d.failed > 0) console.log('see why with: ingest status --failed');
  if (s.promotion) {
    const replaced = Object.values(s.promotion.sinks).find((v) => v.previous)?.previous;
    console.log(
      replaced
        ? `promoted: readers now see this version; ${replaced} is dropped after ${s.promotion.retireAt} (ingest versions)`
        : 'promoted: readers see this version',
    );
  }
}
