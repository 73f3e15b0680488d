// Plain rules for a source run's controls (pause, resume, throttle). No imports: workflows load this file in their
// sandbox, and clients and tests use it as is.

/** The bounds of `concurrency.documents` in the pipeline spec: a throttle may set anything the spec may. */
export const MIN_IN_FLIGHT = 1;
export const MAX_IN_FLIGHT = 1000;

/** What every control returns: the run's state once the control is applied. */
export interface RunControlState {
  paused: boolean;
  maxInFlight: number;
}

/**
 * Why `n` cannot be a source run's window (an integer from 1 to 1000), or undefined when it can. NaN, fractions,
 * zero, negatives, huge numbers and non-numbers (a signal's payload is whatever the sender wrote) are all refused:
 * a window of 0 would stall the run forever.
 */
export function invalidMaxInFlight(n: unknown): string | undefined {
  if (typeof n === 'number' && Number.isInteger(n) && n >= MIN_IN_FLIGHT && n <= MAX_IN_FLIGHT) return undefined;
  return `throttle must be an integer from ${MIN_IN_FLIGHT} to ${MAX_IN_FLIGHT}`;
}
