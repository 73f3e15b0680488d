import { z } from 'zod';
import { S3KeyEncoding } from './schema.ts';

const topic = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name');
const tenant = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . -');

const common = {
  topic,
  /** Bootstrap brokers; default: the ones the trigger is started with (the CLI passes the local stack's). */
  brokers: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Consumer group. Members of one group share the partitions, so run every version of a pipeline (blue/green) in
   * one trigger deployment. Default `ragline-trigger`.
   */
  groupId: z.string().min(1).optional(),
  /** Where events nobody can take go, with the reason in headers. Default `{topic}.dlq`. */
  deadLetterTopic: topic.optional(),
  /** Where a group with no committed offset starts. Default `earliest` (replay what the topic holds). */
  startFrom: z.enum(['earliest', 'latest']).optional(),
};

/**
 * What makes a pipeline version listen for document events (`triggers` in the pipeline spec). `ingest trigger`
 * consumes them and signals each document's workflow.
 */
export const TriggerSpec = z.discriminatedUnion('kind', [
  /** Document events in our JSON schema (connectors/events/schema.ts), or tombstones keyed by uri. */
  z.object({
    kind: z.literal('kafka'),
    ...common,
    /** Tenants an event may name; default: the spec's own tenant only. */
    tenants: z.array(tenant).min(1).optional(),
  }),
  /** S3 object-created/removed notifications, routed by bucket and key prefix. */
  z.object({
    kind: z.literal('s3-events'),
    ...common,
    bucket: z.string().min(3).max(63),
    prefix: z.string().default(''),
    keyEncoding: S3KeyEncoding.default('auto'),
  }),
]);
export type TriggerSpec = z.infer<typeof TriggerSpec>;

export const DEFAULT_TRIGGER_GROUP = 'ragline-trigger';

/** The dead-letter topic of a trigger. */
export function deadLetterTopicOf(t: Pick<TriggerSpec, 'topic' | 'deadLetterTopic'>): string {
  return t.deadLetterTopic ?? `${t.topic}.dlq`;
}
