/**
 * Where document events come from, behind our own small interface: kafkajs today (connectors/events/kafka.ts), and
 * @confluentinc/kafka-javascript or another log tomorrow without touching the trigger.
 *
 * The contract is at-least-once: an offset is committed only after the handler finished the messages before it, so a
 * crash at any instruction redelivers work instead of losing it.
 */

/** One message as it came off the log; nothing decoded yet. */
export interface EventMessage {
  key: Buffer | null;
  /** null for a tombstone. */
  value: Buffer | null;
  /** Position in the partition (a decimal string: offsets are 64-bit). */
  offset: string;
  /** Producer or broker time, ms since the epoch, as a decimal string. */
  timestamp: string;
  headers: Record<string, Buffer | undefined>;
}

/** One partition's messages, in partition order. */
export interface EventBatch {
  topic: string;
  partition: number;
  messages: EventMessage[];
}

export interface BatchContext {
  /**
   * Marks the messages up to and including `offset` as done. A retry after a failure starts after it, and it is what
   * the source commits (as `offset + 1`) when the handler returns or the consumer stops.
   */
  resolve(offset: string): void;
  /** Commits what is resolved now, instead of waiting for the handler to return. */
  commit(): Promise<void>;
  /** Tells the group this member is alive; the source also heartbeats on a timer while a handler runs. */
  heartbeat(): Promise<void>;
  /**
   * Aborted when the consumer stops or the partition is being revoked (rebalance): finish the message in hand,
   * resolve it, and return. Messages not resolved by then are redelivered, here or to another member.
   */
  signal: AbortSignal;
}

/**
 * Handles one batch. Returning normally means every message of the batch is done, unless `ctx.signal` was aborted
 * (then only what was resolved counts). Throwing means "not done yet": the source commits what was resolved, holds
 * the partition back (no further fetching for it), and hands the unresolved messages over again after a capped
 * exponential backoff. It never skips a message, so a handler must dead-letter bad input itself rather than throw.
 */
export type BatchHandler = (batch: EventBatch, ctx: BatchContext) => Promise<void>;

export interface PartitionRef {
  topic: string;
  partition: number;
}

/** A partition the source is holding back after a handler failure. */
export interface RetryingPartition extends PartitionRef {
  /** Failed attempts in a row. */
  attempts: number;
  /** When the next attempt is due (ms since the epoch). */
  nextAttemptAt: number;
  lastError: string;
}

export interface EventSource {
  /**
   * Joins the consumer group and starts handing batches to `handler`. Resolves after the first fetch, which fixes
   * where partitions without a committed offset start: a message produced after that is never skipped.
   */
  run(handler: BatchHandler): Promise<void>;
  /** Finishes the message in hand, commits what is resolved, and leaves the group. Idempotent. */
  stop(): Promise<void>;
  /** Stops fetching a partition (messages in hand are still handled); `resume` lets it continue. */
  pause(p: PartitionRef): void;
  resume(p: PartitionRef): void;
  /** Partitions held back after a handler failure, with their backoff state. */
  retrying(): RetryingPartition[];
}

/** A message routed aside, with why, so the consumer can move on. */
export interface DeadLetter {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string | Buffer>;
}

export interface DeadLetterSink {
  /** Resolves once the log acknowledged every record (creating the topic first if it is missing). */
  send(topic: string, records: DeadLetter[]): Promise<void>;
  close(): Promise<void>;
}

/** Header names on every dead letter. */
export const DeadLetterHeader = {
  reason: 'ragline-dlq-reason',
  type: 'ragline-dlq-type',
  originalTopic: 'ragline-original-topic',
  originalPartition: 'ragline-original-partition',
  originalOffset: 'ragline-original-offset',
  /** The pipeline version that refused the event, when only one of several routes did. */
  pipeline: 'ragline-dlq-pipeline',
} as const;

/** The next offset to read after `offset` (what Kafka-style logs store as committed). */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/** Capped exponential backoff: 250 ms, 500 ms, 1 s ... up to `maxMs`, with up to 20% jitter so members spread out. */
export function backoffDelay(attempt: number, initialMs = 250, maxMs = 10_000, random: () => number = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.2 * random()));
}
