import { WorkflowNotFoundError } from '@temporalio/client';
import { RaglineClient, type IngestHandle } from '../../sdk/client.ts';
import { RunControlError } from '../../sdk/runs.ts';
import type { RunControlState } from '../../workflows/run-controls.ts';
import { normaliseSourceUri, type CliContext } from '../context.ts';
import { printable } from '../printable.ts';
import { progressFigures, progressLine } from '../progress.ts';

/** Runs one `ingest runs` subcommand with a client; a refused control is one line on stderr and exit code 1. */
async function withClient(ctx: CliContext, fn: (client: RaglineClient) => Promise<void>): Promise<void> {
  const client = await RaglineClient.connect({ ...ctx.temporal, spec: ctx.spec });
  try {
    await fn(client);
  } catch (err) {
    if (!(err instanceof RunControlError || err instanceof WorkflowNotFoundError)) throw err;
    console.error(`ingest runs: ${err.message}`);
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}

const runOf = (client: RaglineClient, uri: string): IngestHandle => client.getIngest(normaliseSourceUri(uri));
const stateLine = (uri: string, s: RunControlState) =>
  `${printable(uri)}: ${s.paused ? 'paused' : 'running'}, at most ${s.maxInFlight} document(s) at once`;

/** `ingest runs list`: this pipeline version's and tenant's source runs, newest first. */
export function listCommand(ctx: CliContext, opts: { json?: boolean }): Promise<void> {
  return withClient(ctx, async (client) => {
    const runs = await client.listRuns();
    if (opts.json) return console.log(JSON.stringify(runs));
    if (runs.length === 0) console.log(`no source runs for ${ctx.spec.name} v${ctx.spec.version}, tenant ${ctx.spec.tenant}`);
    for (const r of runs) console.log(`${r.status.padEnd(10)} ${r.startTime}  ${printable(r.sourceUri)}`);
  });
}

/** `ingest runs describe <source-uri>`: the run's progress (its `progress` query) and status. */
export function describeCommand(ctx: CliContext, uri: string, opts: { json?: boolean }): Promise<void> {
  return withClient(ctx, async (client) => {
    const run = runOf(client, uri);
    const status = (await client.temporal.workflow.getHandle(run.workflowId).describe()).status.name.toLowerCase();
    // A closed run answers queries only while a worker can replay it.
    const p = await run.progress().catch((err: unknown) => {
      if (status === 'running') throw err;
      return undefined;
    });
    if (!p)
      return console.log(opts.json ? JSON.stringify({ workflowId: run.workflowId, status }) : `${printable(uri)}: ${status}`);
    const { listed, ingested, unchanged, deleted, failed, handedOff, inFlight, maxInFlight, paused, pages, done } = p;
    const out = { workflowId: run.workflowId, status, listed, ingested, unchanged, deleted };
    const rest = { failed, handedOff, inFlight, maxInFlight, paused, pages, done };
    const figures = progressFigures(p, Date.now());
    if (opts.json) {
      const live = { chunks: p.chunks, startedAt: new Date(p.startedAt).toISOString() };
      const rate = { docsPerSecond: +figures.docsPerSecond.toFixed(3), etaSeconds: figures.etaSeconds ?? null };
      return console.log(JSON.stringify({ ...out, ...rest, ...live, ...rate }));
    }
    console.log(`${printable(uri)}: ${out.status}${paused ? ', paused' : ''}`);
    console.log(`  ${progressLine(figures)}`);
    console.log(`  listed ${listed}, ingested ${ingested}, unchanged ${unchanged}, deleted ${deleted}, failed ${failed}`);
    console.log(
      `  in flight ${inFlight} of at most ${maxInFlight}; page ${pages}${handedOff ? `; handed off ${handedOff}` : ''}`,
    );
  });
}

export function pauseCommand(ctx: CliContext, uri: string): Promise<void> {
  return withClient(ctx, async (client) => {
    console.log(`${stateLine(uri, await runOf(client, uri).pause())} (documents in flight finish)`);
  });
}

export function resumeCommand(ctx: CliContext, uri: string): Promise<void> {
  return withClient(ctx, async (client) => console.log(stateLine(uri, await runOf(client, uri).resume())));
}

export function throttleCommand(ctx: CliContext, uri: string, n: string): Promise<void> {
  return withClient(ctx, async (client) => {
    // The run's validator decides what is acceptable; text that is no number at all goes as NaN and is refused there.
    const value = n.trim() === '' ? Number.NaN : Number(n);
    console.log(stateLine(uri, await runOf(client, uri).throttle(value)));
  });
}

export function cancelCommand(ctx: CliContext, uri: string): Promise<void> {
  return withClient(ctx, async (client) => {
    await runOf(client, uri).cancel();
    console.log(
      `${printable(uri)}: cancel requested (no new documents start; those in flight are cancelled and cleaned up, then the run ends cancelled)`,
    );
  });
}
