import { fileURLToPath } from 'node:url';
import { RaglineClient } from '../../sdk/client.ts';
import type { ReconcileReport } from '../../workflows/types.ts';
import { normaliseSourceUri, type CliContext } from '../context.ts';
import { startInlineWorkers } from './run.ts';

/**
 * `ingest reconcile`: compares every sink with the ledger now and repairs the drift (or only counts it with
 * --dry-run), then prints the report. Runs the pipeline's workers in this process unless --no-worker.
 */
export async function reconcileCommand(
  ctx: CliContext,
  opts: { dryRun?: boolean; json?: boolean; source?: string; worker: boolean },
): Promise<ReconcileReport> {
  const sourcePrefix = opts.source === undefined ? undefined : normaliseSourceUri(opts.source);
  const inline = opts.worker
    ? await startInlineWorkers(ctx, sourcePrefix?.startsWith('file://') ? [fileURLToPath(sourcePrefix)] : [])
    : undefined;
  const client = await RaglineClient.connect({ ...ctx.temporal, spec: ctx.spec });
  try {
    const handle = await client.reconcile({ dryRun: opts.dryRun, sourcePrefix });
    const result = handle.result();
    const report = await (inline?.embedChild ? Promise.race([result, inline.embedChild.failed]) : result);
    if (opts.json) console.log(JSON.stringify(report));
    else printReport(report);
    return report;
  } finally {
    await client.close();
    await Promise.all([inline?.workers.shutdown(), inline?.embedChild?.stop()]);
  }
}

function printReport(r: ReconcileReport): void {
  console.log(`${r.dryRun ? 'dry run: ' : ''}${r.documents} live documents checked against ${Object.keys(r.sinks).length} sinks`);
  for (const [name, d] of Object.entries(r.sinks)) {
    const parts = [
      `${d.missing} missing (${d.documents} documents)`,
      `${d.orphans} orphans`,
      `${d.repaired} repaired`,
      ...(d.rebuilt ? ['index rebuilt'] : []),
      ...(d.skipped ? [`${d.skipped} orphans left (document busy)`] : []),
    ];
    console.log(`sink ${name}: ${parts.join(', ')}${d.error ? `; unreachable: ${d.error}` : ''}`);
  }
  const p = r.repairs;
  if (p.started > 0)
    console.log(`repairs: ${p.started} documents re-ingested (${p.ingested} whole, ${p.failed} failed, ${p.handedOff} busy)`);
  console.log(
    `janitor: ${r.janitor.removed} stale artifact folders ${r.dryRun ? 'found' : 'removed'}${r.janitor.error ? ` (${r.janitor.error})` : ''}`,
  );
}
