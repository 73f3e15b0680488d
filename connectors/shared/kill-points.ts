import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Named kill points: places in the activities where a crash is the hardest to recover from (a side effect done, its
// completion not yet reported to Temporal). A process started with RAGLINE_KILL_AT=<name>[,<name>...] SIGKILLs itself
// the first time it reaches a named point, so fault tests hit exactly that instruction instead of a random moment.
// With RAGLINE_KILL_MARKS=<dir> each point kills only once across restarts: the first hit leaves a file named after
// the point in that folder, and a restarted process with the same settings passes the point. Without it, every hit
// kills.
//
// This is the one module that reads the environment past the edge: a kill point is for fault tests only, so it is not
// part of the pipeline spec, and reading it once at load keeps the cost when off to one comparison per point.

/** Every kill point, in the order a document meets them. */
export const KILL_POINTS = [
  /** fetchAndParse: the chunks file is written; the result is not returned yet. */
  'fetch.after-chunks-written',
  /** embedChunks: the vectors file is written; the result is not returned yet. */
  'embed.after-vectors-written',
  /** upsertToSink, the first write of a pipeline version: the alias points at the new index, the ledger has no record. */
  'upsert.after-alias-set',
  /** upsertToSink: the new version's chunks are in the sink, the stale ones not deleted yet. */
  'upsert.after-write',
  /** upsertToSink: the stale chunks are deleted; the result is not returned yet. */
  'upsert.after-stale-delete',
  /** commitDocument: the ledger has the new version; the artifacts are still there. */
  'commit.after-ledger-write',
  /** commitDocument: the artifacts are removed; the completion is not reported yet. */
  'commit.after-cleanup',
  /** deleteFromSink: the document is gone from one index of this sink (the other sinks' deletes are their own). */
  'delete.after-sink-delete',
  /** recordDeleted: one version's ledger row says deleted; further versions' rows are not written yet. */
  'record-deleted.after-ledger-write',
] as const;

/** Kill points of a promotion (test/faults/promote-kill.test.ts), apart from the document path's. */
export const PROMOTION_KILL_POINTS = [
  /** switchIndexAlias: the sink's alias points at the new version; the ledger still records the old one as current. */
  'promote.after-alias-switch',
] as const;

export type KillPoint = (typeof KILL_POINTS)[number] | (typeof PROMOTION_KILL_POINTS)[number];
const ALL_POINTS: readonly string[] = [...KILL_POINTS, ...PROMOTION_KILL_POINTS];

export class KillPointConfigError extends Error {
  override name = 'KillPointConfigError';
}

/** Parses RAGLINE_KILL_AT: undefined when unset or empty; unknown names fail, listing the known ones. */
export function parseKillPoints(value: string | undefined): Set<KillPoint> | undefined {
  const names = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return undefined;
  const unknown = names.filter((n) => !ALL_POINTS.includes(n));
  if (unknown.length > 0) {
    throw new KillPointConfigError(
      `RAGLINE_KILL_AT names unknown kill point(s) ${unknown.join(', ')} (known: ${ALL_POINTS.join(', ')})`,
    );
  }
  return new Set(names as KillPoint[]);
}

const armed = parseKillPoints(process.env.RAGLINE_KILL_AT);
const marks = armed ? process.env.RAGLINE_KILL_MARKS : undefined;

/** SIGKILLs this process here when RAGLINE_KILL_AT names `point` (once per marks folder); otherwise does nothing. */
export function killPoint(point: KillPoint): void {
  if (armed === undefined || !armed.has(point)) return;
  if (marks !== undefined) {
    try {
      // `wx`: only the first process to get here writes it; the write is in the kernel before the kill below.
      writeFileSync(join(marks, point), `${process.pid}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw err;
    }
  }
  process.kill(process.pid, 'SIGKILL');
}
