import { resolve } from 'node:path';
import type { IndexVersionRecord } from '../../connectors/ledger/ledger.ts';
import { indexAlias, indexName } from '../../pipeline/spec.ts';
import { createLedger, createSinks } from '../../workers/build-deps.ts';
import type { PromoteState } from '../../workflows/promote.ts';
import { normaliseSourceUri, type CliContext } from '../context.ts';

export interface SinkVersions {
  sink: string;
  alias: string;
  /** The index the alias points at now (read from the sink itself). */
  live: string | undefined;
  /** This spec's version. */
  index: string;
  count: number;
  history: IndexVersionRecord[];
}

/** `ingest versions`: per sink, which index version readers see, and the recorded history of versions. */
export async function versionsCommand(ctx: CliContext, opts: { json?: boolean }): Promise<SinkVersions[]> {
  const ledger = createLedger(ctx.spec, (p) => resolve(ctx.baseDir, p));
  const sinks = await createSinks(ctx.spec, { baseDir: ctx.baseDir });
  try {
    const alias = indexAlias(ctx.spec);
    const index = indexName(ctx.spec);
    const history = await ledger.listIndexVersions(alias);
    const out: SinkVersions[] = [];
    for (const [name, sink] of sinks) {
      const live = await sink.getAlias(alias);
      const count = await sink.count(index, { tenant: ctx.spec.tenant }).catch(() => 0);
      out.push({ sink: name, alias, live, index, count, history: history.filter((h) => h.sink === name) });
    }
    if (opts.json) console.log(JSON.stringify({ alias, versions: out }));
    else {
      for (const v of out) {
        console.log(
          `${v.sink}: readers of "${v.alias}" see ${v.live ?? '(no alias yet)'}; this spec writes ${v.index} (${v.count} chunks)`,
        );
        for (const h of v.history) {
          const extra = h.state === 'retiring' && h.retireAfter ? `, dropped after ${h.retireAfter}` : '';
          console.log(`  ${h.index.padEnd(32)} ${h.state.padEnd(9)} ${h.chunks ?? '-'} chunks${extra}`);
        }
      }
    }
    return out;
  } finally {
    await ledger.close();
    await Promise.all([...sinks.values()].map((s) => s.close()));
  }
}

/**
 * `ingest promote`: makes this spec's version the one readers see, in every sink, once it validates against the
 * ledger. Returns when the aliases have switched; the replaced version is dropped later by the promotion workflow
 * (on whichever workers run then), unless it is rolled back first.
 */
export async function promoteCommand(
  ctx: CliContext,
  opts: {
    retireAfter?: number;
    force?: boolean;
    json?: boolean;
    worker: boolean;
    wait?: boolean;
    /** `--accept-loss <uri>` (repeatable): live documents the new version may drop. */
    acceptLoss?: string[];
    /** `--accept-all-losses`. */
    acceptAllLosses?: boolean;
  },
): Promise<PromoteState> {
  const workers = opts.worker
    ? await (
        await import('../../workers/worker.ts')
      ).startWorkers({
        ...ctx.temporal,
        spec: ctx.spec,
        roles: ['ingest'],
        s3: ctx.s3,
        baseDir: ctx.baseDir,
        bundleCacheDir: ctx.stack.cacheDir,
      })
    : undefined;
  const { RaglineClient } = await import('../../sdk/client.ts');
  const client = await RaglineClient.connect({ ...ctx.temporal, spec: ctx.spec });
  try {
    const handle = await client.promote({
      retireAfterMs: opts.retireAfter === undefined ? undefined : opts.retireAfter * 60_000,
      force: opts.force,
      ...(opts.acceptAllLosses
        ? { acceptLosses: 'all' as const }
        : opts.acceptLoss?.length
          ? { acceptLosses: opts.acceptLoss.map((uri) => normaliseSourceUri(uri)) }
          : {}),
    });
    const state = opts.wait ? await handle.result() : await handle.switched();
    if (opts.json) console.log(JSON.stringify({ workflowId: handle.workflowId, ...state }));
    else {
      for (const [sink, s] of Object.entries(state.sinks)) {
        console.log(`${sink}: readers now see ${indexName(ctx.spec)} (${s.chunks} chunks); replaced ${s.previous ?? 'nothing'}`);
        const v = state.validation?.[sink];
        for (const [tenant, t] of Object.entries(v?.tenants ?? {})) {
          console.log(`  tenant ${tenant}: ${t.count} chunks (ledger ${t.expected}, ${t.documents} documents)`);
        }
        if (v?.acceptedLossCount) {
          const more = v.acceptedLossCount - (v.acceptedLosses?.length ?? 0);
          console.log(`  accepted losses (${v.acceptedLossCount}): no longer searchable after the switch`);
          for (const l of v.acceptedLosses ?? []) console.log(`    ${l.tenant} ${l.sourceUri} (${l.error ?? l.reason})`);
          if (more > 0) console.log(`    and ${more} more`);
        }
      }
      if (state.phase === 'grace')
        console.log(
          `the replaced version is dropped after ${state.retireAt} (workflow ${handle.workflowId}; signal rollback to undo)`,
        );
    }
    return state;
  } finally {
    await client.close();
    await workers?.shutdown();
  }
}
