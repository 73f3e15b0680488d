import { Context } from '@temporalio/activity';

// Heartbeats cost: each one that reaches the Temporal server is a billed Action on Temporal Cloud, and the SDK sends an
// activity's first heartbeat at once. Most activities of a small document end in well under a second, so their
// progress heartbeats bought nothing but two Actions per document (bench:pipeline's temporal_actions). Here an
// activity is quiet for its first QUIET_MS: its progress calls only record the latest details, and the liveness beat
// of atEdge (failures.ts) sends them once the activity has run that long, then every QUIET_MS, so a long activity is
// still seen alive, resumable and cancellable. A worker killed in the quiet period is noticed as before: the heartbeat
// timeout runs from the activity's start.

/** An activity shorter than this sends no heartbeat; also the liveness beat's period. Well under the 30 s timeout. */
export const QUIET_MS = 5_000;

interface BeatState {
  startedAt: number;
  /** The latest progress details, sent by the next beat that reaches the server. */
  details?: unknown;
}

const states = new WeakMap<Context, BeatState>();

/** Starts the quiet period of the current activity (atEdge, before its body runs). */
export function beginHeartbeats(ctx: Context, now = Date.now()): void {
  states.set(ctx, { startedAt: now });
}

/**
 * Progress of the current activity: recorded, and sent to the server once the activity is past its quiet period (the
 * SDK throttles from there). Outside atEdge (a bare activity in a test) it goes straight to the SDK.
 */
export function heartbeat(details?: unknown): void {
  const ctx = Context.current();
  const state = states.get(ctx);
  if (!state) return ctx.heartbeat(details);
  if (details !== undefined) state.details = details;
  if (Date.now() - state.startedAt >= QUIET_MS) ctx.heartbeat(state.details);
}

/**
 * The liveness beat (every QUIET_MS, the first at the end of the quiet period): the latest details again, since a
 * bare beat would erase them on the server.
 */
export function livenessBeat(ctx: Context): void {
  ctx.heartbeat(states.get(ctx)?.details);
}
