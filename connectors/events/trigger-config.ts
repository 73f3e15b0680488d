import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { readSpecFile, resolveSecret, SecretInput, SecretRef, type SecretSource } from '../shared/secret.ts';
import type { KafkaSecurity } from './kafka.ts';
import { S3KeyEncoding } from './schema.ts';

const topic = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name');
const tenant = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . -');

/** TLS to the brokers: `true` for the public roots, or PEM files for a private CA and/or a client certificate. */
const KafkaSsl = z.union([
  z.boolean(),
  z.object({
    caFile: z.string().min(1).optional(),
    /** Mutual TLS: this client's certificate and key (both or neither); `keyPassword` for an encrypted key. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    keyPassword: SecretRef.optional(),
    /** The name the broker certificates must carry, when it is not the broker address's host. */
    serverName: z.string().min(1).optional(),
  }),
]);

/** SASL login; the password only by reference (`{ env: NAME }` or `{ file: path }`). */
const KafkaSasl = z.object({
  mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
  username: SecretInput,
  password: SecretRef,
});

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
  /** TLS to the brokers. Default: plain TCP. */
  ssl: KafkaSsl.optional(),
  /** SASL authentication (over TLS when `ssl` is set, else SASL_PLAINTEXT). Default: none. */
  sasl: KafkaSasl.optional(),
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

/** How a trigger's connection is declared (references, no values): triggers sharing a consumer group must agree on it. */
export function securityDeclaration(t: Pick<TriggerSpec, 'ssl' | 'sasl'>): string {
  return JSON.stringify({ ssl: t.ssl ?? false, sasl: t.sasl ?? null });
}

/** Reads a trigger's certificates and secrets (when the trigger starts) into the Kafka client's settings. */
export function kafkaSecurityOf(t: Pick<TriggerSpec, 'ssl' | 'sasl'>, what: string, source: SecretSource): KafkaSecurity {
  const out: KafkaSecurity = {};
  if (typeof t.ssl === 'boolean') out.ssl = t.ssl;
  else if (t.ssl) {
    const { caFile, certFile, keyFile, keyPassword, serverName } = t.ssl;
    if ((certFile === undefined) !== (keyFile === undefined))
      throw new ConnectorError(FailureType.InvalidInput, `${what}: ssl certFile and keyFile go together (mutual TLS)`);
    const file = (path: string | undefined, key: string) =>
      path === undefined ? undefined : readSpecFile(path, `${what} ssl ${key}`, source);
    out.ssl = {
      ca: file(caFile, 'caFile'),
      cert: file(certFile, 'certFile'),
      key: file(keyFile, 'keyFile'),
      passphrase: keyPassword === undefined ? undefined : resolveSecret(keyPassword, `${what} ssl keyPassword`, source),
      serverName,
    };
  }
  if (t.sasl) {
    out.sasl = {
      mechanism: t.sasl.mechanism,
      username: resolveSecret(t.sasl.username, `${what} sasl username`, source),
      password: resolveSecret(t.sasl.password, `${what} sasl password`, source),
    };
  }
  return out;
}
