import { RaglineClient } from '../../sdk/client.ts';
import { ScheduleError, type PipelineSchedules, type ScheduleState } from '../../sdk/schedules.ts';
import type { CliContext } from '../context.ts';
import { printable } from '../printable.ts';

/** Runs one `ingest schedule` subcommand with a client; a refused operation is one line on stderr and exit code 1. */
async function withSchedules(ctx: CliContext, fn: (s: PipelineSchedules) => Promise<void>): Promise<void> {
  const client = await RaglineClient.connect({ ...ctx.temporal, spec: ctx.spec });
  try {
    await fn(client.schedules);
  } catch (err) {
    if (!(err instanceof ScheduleError)) throw err;
    console.error(`ingest schedule: ${err.message}`);
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}

/** `ingest schedule apply`: makes Temporal hold exactly the schedules the spec declares. */
export function applyCommand(ctx: CliContext, opts: { json?: boolean }): Promise<void> {
  return withSchedules(ctx, async (s) => {
    const result = await s.apply();
    if (opts.json) return console.log(JSON.stringify(result));
    for (const [what, names] of Object.entries(result)) console.log(`${what.padEnd(9)} ${names.join(', ') || '-'}`);
  });
}

export function listCommand(ctx: CliContext, opts: { json?: boolean }): Promise<void> {
  return withSchedules(ctx, async (s) => {
    const all = await s.list();
    if (opts.json) return console.log(JSON.stringify(all));
    if (all.length === 0) console.log(`no schedules for ${ctx.spec.name} v${ctx.spec.version}, tenant ${ctx.spec.tenant}`);
    const width = Math.max(...all.map((st) => st.name.length));
    for (const st of all) console.log(summary(st, width));
  });
}

export function describeCommand(ctx: CliContext, name: string, opts: { json?: boolean }): Promise<void> {
  return withSchedules(ctx, async (s) => {
    const st = await s.describe(name);
    if (opts.json) return console.log(JSON.stringify(st));
    console.log(summary(st, st.name.length));
    console.log(`  id          ${printable(st.scheduleId)}`);
    console.log(`  catch-up    ${st.catchupWindow}, jitter ${st.jitter}`);
    if (st.note) console.log(`  note        ${printable(st.note)}`);
    console.log(
      `  spec        ${!st.declared ? 'not declared (the next apply deletes it)' : st.upToDate ? 'as applied' : 'changed (apply updates it)'}`,
    );
    console.log(
      `  actions     ${st.actionsTaken} taken, ${st.skippedOverlap} skipped (overlap), ${st.missedCatchupWindow} missed`,
    );
    for (const r of st.recentRuns) console.log(`  ran         ${r.takenAt} (for ${r.scheduledAt}) ${printable(r.workflowId)}`);
    for (const id of st.running) console.log(`  running     ${printable(id)}`);
  });
}

export function pauseCommand(ctx: CliContext, name: string, opts: { note?: string }): Promise<void> {
  return withSchedules(ctx, async (s) => {
    await s.pause(name, opts.note);
    console.log(`${name}: paused (trigger and backfill still start runs; unpause resumes the timetable)`);
  });
}

export function unpauseCommand(ctx: CliContext, name: string, opts: { note?: string }): Promise<void> {
  return withSchedules(ctx, async (s) => {
    await s.unpause(name, opts.note);
    console.log(`${name}: unpaused`);
  });
}

export function triggerCommand(ctx: CliContext, name: string): Promise<void> {
  return withSchedules(ctx, async (s) => {
    const before = await s.describe(name);
    await s.trigger(name);
    if (before.running.length > 0 && before.overlap === 'skip')
      console.log(`${name}: a run is still going (${printable(before.running[0]!)}); overlap skip: nothing new starts`);
    else if (before.running.length > 0)
      console.log(`${name}: a run is still going; overlap ${before.overlap}: this one waits for it (one waits at most)`);
    else console.log(`${name}: a source run starts now (ingest schedule describe ${name} shows it)`);
  });
}

export function backfillCommand(ctx: CliContext, name: string, opts: { from: string; to: string }): Promise<void> {
  return withSchedules(ctx, async (s) => {
    const from = isoDate('--from', opts.from);
    const to = isoDate('--to', opts.to);
    await s.backfill(name, from, to);
    const { overlap } = await s.describe(name);
    console.log(`${name}: backfill of ${from.toISOString()} .. ${to.toISOString()} requested (overlap ${overlap})`);
  });
}

export function deleteCommand(ctx: CliContext, name: string): Promise<void> {
  return withSchedules(ctx, async (s) => {
    await s.delete(name);
    console.log(`${name}: deleted (runs it started go on; apply recreates it while the spec declares it)`);
  });
}

function isoDate(flag: string, text: string): Date {
  // An ISO-8601 date or date-time; Date.parse alone would take 'March 7' or '1' too.
  const d = /^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? new Date(text) : undefined;
  if (!d || Number.isNaN(d.getTime())) throw new ScheduleError(`${flag}: '${text}' is not an ISO-8601 date or time`);
  return d;
}

/** One line per schedule: name, kind, timetable, overlap, next run (or paused), source. */
function summary(st: ScheduleState, nameWidth: number): string {
  const when = st.every ? `every ${st.every.join(', ')}` : st.cron ? `cron ${st.cron}` : 'calendar';
  const next = st.paused ? 'paused' : `next ${st.nextRuns[0] ?? '-'}`;
  return `${st.name.padEnd(nameWidth)} ${String(st.kind ?? '?').padEnd(9)} ${when.padEnd(16)} overlap ${st.overlap.padEnd(10)} ${next}  ${printable(st.source ?? '')}`;
}
