import { resolve } from 'node:path';
import type { DocStatus, DocumentRecord } from '../../connectors/ledger/ledger.ts';
import { createLedger } from '../../workers/build-deps.ts';
import type { CliContext } from '../context.ts';
import { printable } from '../printable.ts';

/** `ingest status`: per-document state from the ledger, with the reason of each failure. */
export async function statusCommand(ctx: CliContext, opts: { json?: boolean; failed?: boolean; limit?: number }): Promise<void> {
  const ledger = createLedger(ctx.spec, (p) => resolve(ctx.baseDir, p));
  try {
    const records: DocumentRecord[] = [];
    let after: string | undefined;
    const limit = opts.limit ?? 1000;
    do {
      const page = await ledger.list({
        tenant: ctx.spec.tenant,
        status: opts.failed ? ('failed' as DocStatus) : undefined,
        limit: Math.min(500, limit),
        after,
      });
      records.push(...page.records);
      after = page.next;
    } while (after && records.length < limit);
    const counts = await ledger.counts(ctx.spec.tenant);
    if (opts.json) {
      console.log(
        JSON.stringify({
          tenant: ctx.spec.tenant,
          counts,
          documents: records.map((r) => ({
            sourceUri: r.sourceUri,
            status: r.status,
            chunks: r.chunkIds.length,
            sinks: r.sinks,
            error: r.lastError,
            updatedAt: r.updatedAt,
          })),
        }),
      );
      return;
    }
    console.log(
      `tenant ${ctx.spec.tenant}: ${Object.entries(counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}`,
    );
    for (const r of records) {
      const sinks = Object.entries(r.sinks)
        .map(([k, s]) => `${k}=${s.state}`)
        .join(' ');
      console.log(`${r.status.padEnd(9)} ${String(r.chunkIds.length).padStart(5)} chunks  ${printable(r.sourceUri)}  ${sinks}`);
      if (r.lastError) console.log(`          ${r.lastError.type}: ${printable(r.lastError.message)}`);
    }
  } finally {
    await ledger.close();
  }
}
