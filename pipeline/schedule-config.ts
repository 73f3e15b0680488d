import { createHash } from 'node:crypto';
import { z } from 'zod';

/** `30m`, `1h`, `1d`, `1h30m`: whole numbers with units, largest unit first. */
const INTERVAL = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1000] as const;

/** Milliseconds of an interval such as `30m`, `1h`, `1d` or `1h30m`; undefined when the text is not one. */
export function parseInterval(text: string): number | undefined {
  const m = INTERVAL.exec(text);
  if (!m || text === '') return undefined;
  let ms = 0;
  for (let i = 0; i < UNIT_MS.length; i++) ms += Number(m[i + 1] ?? 0) * UNIT_MS[i]!;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** The shortest text `parseInterval` reads back as `ms` (whole seconds; `0s` for zero). */
export function formatInterval(ms: number): string {
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const [unit, size] of [
    ['d', UNIT_MS[0]],
    ['h', UNIT_MS[1]],
    ['m', UNIT_MS[2]],
    ['s', UNIT_MS[3]],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out || '0s';
}

/** An interval field: the text stays as written (it is what `describe` shows), its meaning is checked here. */
function interval(min?: { ms: number; why: string }) {
  return z.string().superRefine((text, ctx) => {
    const ms = parseInterval(text);
    if (ms === undefined)
      ctx.addIssue({
        code: 'custom',
        message: `'${text}' is not an interval: whole numbers with units d, h, m, s, largest first (30m, 1h, 1d, 1h30m)`,
      });
    else if (min && ms < min.ms) ctx.addIssue({ code: 'custom', message: `'${text}' is too short: ${min.why}` });
  });
}

const CRON_SHORTHAND = /^@(?:yearly|annually|monthly|weekly|daily|midnight|hourly)$/;
const CRON_FIELD = /^[0-9A-Za-z*?/,-]+$/;

/**
 * A light check of a cron string as Temporal reads it: an optional `CRON_TZ=zone` (or `TZ=zone`) prefix, then a
 * shorthand (`@daily`, `@every 2h`) or 5 to 7 fields, then an optional `# comment`. Temporal checks the ranges when
 * the schedule is applied.
 */
export function cronProblem(cron: string): string | undefined {
  const body = cron
    .replace(/^\s*(?:CRON_TZ|TZ)=\S+\s+/, '')
    .replace(/\s+#.*$/, '')
    .trim();
  if (CRON_SHORTHAND.test(body)) return undefined;
  const every = /^@every\s+(\S+?)(?:\/(\S+))?$/.exec(body);
  if (every) return parseInterval(every[1]!) ? undefined : `'${every[1]}' is not an interval (30m, 1h, 1d)`;
  const fields = body.split(/\s+/);
  if (fields.length < 5 || fields.length > 7)
    return `'${cron}' has ${fields.length} field(s): a cron has 5 (minute hour day-of-month month day-of-week), 6 (+ year) or 7 (second first)`;
  const bad = fields.find((f) => !CRON_FIELD.test(f));
  return bad === undefined ? undefined : `'${bad}' is not a cron field`;
}

export const ScheduleKind = { reindex: 'reindex', reconcile: 'reconcile' } as const;
export type ScheduleKind = (typeof ScheduleKind)[keyof typeof ScheduleKind];

const scheduleName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, starting with a letter');

/**
 * A periodic run the spec declares, applied as a Temporal Schedule by `ingest schedule apply`. `reindex` re-ingests a
 * source (listing, then the sweep of vanished documents), as `ingest run` does. `reconcile` runs the reconciliation
 * workflow over the documents under the source, as `ingest reconcile --source` does.
 */
export const ScheduleConfig = z
  .object({
    /** Unique in the pipeline; default `{kind}-{source as words}-{hash of source}`. Part of the schedule's id. */
    name: scheduleName.optional(),
    kind: z.enum([ScheduleKind.reindex, ScheduleKind.reconcile]),
    /** `s3://bucket/prefix` or `file:///abs/dir`, as `ingest run --source` takes it. */
    source: z.string().regex(/^(?:s3:\/\/[^/\s]+(?:\/.*)?|file:\/\/\/.*)$/, 'an s3://bucket/prefix or file:///abs/dir uri'),
    /** A Temporal interval: runs at every multiple of it since the epoch (UTC), e.g. `1h` on the hour. */
    every: interval({ ms: 1000, why: 'at least 1s' }).optional(),
    /** Instead of `every`: a cron string (UTC unless it starts with `CRON_TZ=zone`). */
    cron: z
      .string()
      .superRefine((cron, ctx) => {
        const problem = cronProblem(cron);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** When a run is still going at the next time: `skip` that time, or `buffer-one` run to start when it ends. */
    overlap: z.enum(['skip', 'buffer-one']).default('skip'),
    /** After a Temporal outage, times missed by less than this still run (Temporal's minimum is 10s). */
    catchupWindow: interval({ ms: 10_000, why: "Temporal's minimum catch-up window is 10s" }).default('1h'),
    /** Each run starts up to this much later, at random (spreads schedules that share a time). */
    jitter: interval().default('0s'),
    /** Applied paused: runs start only by `ingest schedule trigger` or `backfill` until unpaused. */
    paused: z.boolean().default(false),
  })
  .superRefine((s, ctx) => {
    if ((s.every === undefined) === (s.cron === undefined))
      ctx.addIssue({ code: 'custom', path: ['every'], message: 'give exactly one of every and cron' });
  })
  // The name first, given or not: the declaration's key order is part of its fingerprint in the schedule's memo.
  .transform(({ name, ...s }) => ({ name: name ?? defaultScheduleName(s.kind, s.source), ...s }));
export type ScheduleConfig = z.infer<typeof ScheduleConfig>;

/**
 * `reindex-docs-inbox-1a2b3c4d` for `s3://docs/inbox/`: readable, and the hash keeps sources whose words are the
 * same (`s3://a/b` and `file:///a/b`) apart.
 */
export function defaultScheduleName(kind: ScheduleKind, source: string): string {
  const words = source
    .replace(/^[a-z0-9]+:\/\//, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 40)
    .replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 8);
  return words ? `${kind}-${words}-${hash}` : `${kind}-${hash}`;
}
