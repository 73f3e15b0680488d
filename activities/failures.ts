import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConnectorError } from '../connectors/shared/errors.ts';
import { beginHeartbeats, livenessBeat, QUIET_MS } from './heartbeat.ts';

/**
 * The activity edge: a ConnectorError becomes an ApplicationFailure whose `type` the workflow's retry policy and the
 * ledger key on; bad input is non-retryable; a rate limit retries after the server's Retry-After.
 */
export function toFailure(err: unknown): unknown {
  if (err instanceof ConnectorError) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.type,
      nonRetryable: !err.retryable,
      ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
      cause: err.cause instanceof Error ? err.cause : undefined,
    });
  }
  return err;
}

/**
 * Wraps every function of an activities object: failures go through `toFailure`, and a liveness heartbeat runs
 * while the activity does (every QUIET_MS, well under the workflows' heartbeat timeouts), so a worker that dies
 * mid-activity (SIGKILL, OOM) is detected within the heartbeat timeout even inside a long parse that has no natural
 * place to heartbeat. An activity that ends within QUIET_MS sends no heartbeat at all (heartbeat.ts).
 */
export function atEdge<T extends Record<string, (...args: never[]) => Promise<unknown>>>(acts: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    out[name] = async (...args: never[]) => {
      const ctx = Context.current();
      beginHeartbeats(ctx);
      const beat = setInterval(() => livenessBeat(ctx), QUIET_MS);
      try {
        return await fn(...args);
      } catch (err) {
        throw toFailure(err);
      } finally {
        clearInterval(beat);
      }
    };
    Object.defineProperty(out[name], 'name', { value: name });
  }
  return out as T;
}
