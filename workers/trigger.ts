// The trigger process: document events from Kafka become signal-with-start on each document's entity workflow, for
// every served pipeline version the event routes to. At-least-once: an offset is committed only after Temporal
// accepted every route of every message before it (or the message went to a dead-letter topic).
import { resolve } from 'node:path';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import {
  DeadLetterHeader,
  type DeadLetter,
  type DeadLetterSink,
  type EventBatch,
  type EventMessage,
  type EventSource,
  type RetryingPartition,
} from '../connectors/events/event-source.ts';
import { createKafkaDeadLetterSink, createKafkaEventSource, type EventSourceLog } from '../connectors/events/kafka.ts';
import {
  checkTriggers,
  groupKey,
  groupOf,
  routeDocumentEvent,
  routeS3Event,
  type Route,
  type RouteDecision,
} from '../connectors/events/routing.ts';
import {
  parseDocumentEvent,
  parseS3Event,
  RejectionType,
  type DocumentEvent,
  type Rejection,
} from '../connectors/events/schema.ts';
import {
  deadLetterTopicOf,
  kafkaSecurityOf,
  securityDeclaration,
  type TriggerSpec,
} from '../connectors/events/trigger-config.ts';
import type { KafkaSecurity } from '../connectors/events/kafka.ts';
import type { Ledger } from '../connectors/ledger/ledger.ts';
import { boundedMessage, log as rootLog } from '../connectors/shared/log.ts';
import { pipelineRef } from '../pipeline/ref.ts';
import { indexAlias, indexName, type PipelineSpec } from '../pipeline/spec.ts';
import { signalDocument } from '../sdk/documents.ts';
import type { DocEvent } from '../workflows/types.ts';
import { createLedger } from './build-deps.ts';

export interface TriggerOptions {
  /** The pipeline versions served (several versions of one pipeline for blue/green); those without triggers are ignored. */
  specs: PipelineSpec[];
  client: Client;
  /** Brokers of triggers that name none. */
  brokers: string[];
  /** The folder a spec's relative ledger path and certificate or secret files resolve against. Default: the current folder. */
  baseDirOf?: (spec: PipelineSpec) => string;
  /** Where triggers' `{ env: NAME }` secrets are read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** How long one signal-with-start may take before the partition backs off and retries. Default 10 s. */
  signalTimeoutMs?: number;
  /** How long a version's "retired" answer from the ledger is reused. Default 10 s. */
  retiredCacheMs?: number;
  /** Backoff of a partition whose events Temporal cannot take now. Default 250 ms doubling to 10 s. */
  retry?: { initialMs?: number; maxMs?: number };
  /** Passed to every consumer (session timeout, fetch wait, client id...). */
  consumer?: { clientId?: string; sessionTimeoutMs?: number; maxWaitTimeMs?: number; partitionsConsumedConcurrently?: number };
  /** One JSON-friendly line per event worth telling (never document bodies). Default: the process's logger. */
  log?: EventSourceLog;
}

/** One declared trigger as started, for the operator's log. */
export interface StartedRoute {
  pipeline: string;
  version: number;
  kind: TriggerSpec['kind'];
  topic: string;
  groupId: string;
  brokers: string[];
  deadLetterTopic: string;
  bucket?: string;
  prefix?: string;
}

export interface TriggerStats {
  /** Signals Temporal accepted. */
  signalled: number;
  deadLettered: number;
  /** Routes skipped because the version's index is retired. */
  skippedRetired: number;
  retrying: RetryingPartition[];
}

export interface RunningTrigger {
  routes: StartedRoute[];
  stats(): TriggerStats;
  /** Finishes the message in hand, commits, and leaves the groups. */
  stop(): Promise<void>;
}

const triggerLog = () => rootLog().child({ component: 'trigger' });

/** The default EventSourceLog: the process's logger, error texts bounded (a refusal may quote an event's data). */
const processLog: EventSourceLog = (level, msg, fields) => {
  const f: Record<string, unknown> = { ...fields };
  if (typeof f.error === 'string') f.error = boundedMessage(f.error);
  triggerLog()[level](f, msg);
};

/** gRPC codes that say the request itself is wrong for this event: retrying the same event cannot succeed. */
const REJECTING_GRPC_CODES = new Set([3 /* INVALID_ARGUMENT */, 11 /* OUT_OF_RANGE */]);

/**
 * Whether a Temporal client error may pass if tried again (server down, deadline, overload, a namespace or
 * permission an operator can fix) rather than refuse this event for good.
 */
export function isRetryableTemporalError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e)) return !REJECTING_GRPC_CODES.has(e.code);
    // The payload converter refusing the event's data fails the same way every time.
    if (e.name === 'ValueError' || e.name === 'PayloadConverterError') return false;
  }
  return true;
}

interface Group {
  key: string;
  groupId: string;
  brokers: string[];
  /** The declared TLS/SASL (references only), and the same with its secrets read. */
  declared: string;
  security: KafkaSecurity;
  subscriptions: Map<string, boolean>;
  source?: EventSource;
}

export async function startTrigger(opts: TriggerOptions): Promise<RunningTrigger> {
  const specs = opts.specs.filter((s) => (s.triggers ?? []).length > 0);
  if (specs.length === 0) throw new Error('none of the given pipeline specs declares a trigger');
  const problems = checkTriggers(specs);
  if (problems.length) throw new Error(`triggers cannot run together:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const log: EventSourceLog = opts.log ?? processLog;
  const stats = { signalled: 0, deadLettered: 0, skippedRetired: 0 };

  // Groups, and for each topic the first declaration: it decides the format, the dead-letter topic for events no
  // version takes, and which group dead-letters them (so two groups on one topic never both do).
  const groups = new Map<string, Group>();
  const firstOnTopic = new Map<string, { trigger: TriggerSpec; groupKey: string }>();
  const routes: StartedRoute[] = [];
  for (const spec of specs) {
    for (const t of spec.triggers ?? []) {
      const g = groupOf(t, opts.brokers);
      const key = groupKey(g);
      const declared = securityDeclaration(t);
      let group = groups.get(key);
      if (group && group.declared !== declared) {
        throw new Error(
          `triggers cannot run together: consumer group ${g.groupId} on ${g.brokers.join(',')} is declared with different ssl/sasl settings (topic ${t.topic} of ${spec.name} v${spec.version})`,
        );
      }
      if (!group) {
        // Secrets are read once per group, here, when the trigger starts: never logged, never sent to Temporal.
        const source = { env: opts.env ?? process.env, baseDir: opts.baseDirOf?.(spec) ?? process.cwd() };
        const security = kafkaSecurityOf(t, `trigger ${t.topic} of ${spec.name} v${spec.version}`, source);
        group = { key, ...g, declared, security, subscriptions: new Map() };
        groups.set(key, group);
      }
      if (!group.subscriptions.has(t.topic)) group.subscriptions.set(t.topic, t.startFrom !== 'latest');
      if (!firstOnTopic.has(t.topic)) firstOnTopic.set(t.topic, { trigger: t, groupKey: key });
      routes.push({
        pipeline: spec.name,
        version: spec.version,
        kind: t.kind,
        topic: t.topic,
        ...g,
        deadLetterTopic: deadLetterTopicOf(t),
        ...(t.kind === 's3-events' ? { bucket: t.bucket, prefix: t.prefix } : {}),
      });
    }
  }

  const sinks = new Map<string, DeadLetterSink>();
  const sinkFor = (group: Group): DeadLetterSink => {
    const k = `${[...group.brokers].sort().join(',')}|${group.declared}`;
    let sink = sinks.get(k);
    if (!sink)
      sinks.set(
        k,
        (sink = createKafkaDeadLetterSink({ ...group.security, brokers: group.brokers, clientId: 'ragline-trigger-dlq' })),
      );
    return sink;
  };

  const ledgers = new Map<PipelineSpec, Ledger>();
  const retiredCache = new Map<PipelineSpec, { retired: boolean; at: number }>();
  /** A version is skipped once every record of its index says retired; a ledger outage reuses the last answer. */
  async function isRetired(spec: PipelineSpec): Promise<boolean> {
    const cached = retiredCache.get(spec);
    if (cached && Date.now() - cached.at < (opts.retiredCacheMs ?? 10_000)) return cached.retired;
    let ledger = ledgers.get(spec);
    if (!ledger) {
      const base = opts.baseDirOf?.(spec) ?? process.cwd();
      ledgers.set(spec, (ledger = createLedger(spec, (p) => resolve(base, p))));
    }
    try {
      const index = indexName(spec);
      const mine = (await ledger.listIndexVersions(indexAlias(spec))).filter((r) => r.index === index);
      const retired = mine.length > 0 && mine.every((r) => r.state === 'retired');
      retiredCache.set(spec, { retired, at: Date.now() });
      return retired;
    } catch (err) {
      if (cached) return cached.retired;
      throw err;
    }
  }

  const signalTimeoutMs = opts.signalTimeoutMs ?? 10_000;
  async function signal(route: Route<PipelineSpec>, event: DocumentEvent): Promise<void> {
    const docEvent: DocEvent = {
      kind: event.op,
      ...(event.objectVersion !== undefined ? { sourceVersion: event.objectVersion } : {}),
      ...(event.eventTime !== undefined ? { eventTime: event.eventTime } : {}),
    };
    const ref = pipelineRef(route.target, route.tenant);
    await opts.client.withDeadline(Date.now() + signalTimeoutMs, () => signalDocument(opts.client, ref, route.uri, docEvent));
  }

  /** Parses a message in its topic's format and routes each event in it. */
  function decide(
    trigger: TriggerSpec,
    topic: string,
    msg: EventMessage,
  ):
    | { ok: true; decided: Array<{ event: DocumentEvent; decision: RouteDecision<PipelineSpec> }> }
    | { ok: false; rejection: Rejection } {
    if (trigger.kind === 's3-events') {
      const parsed = parseS3Event(msg.value, { keyEncoding: trigger.keyEncoding });
      if (!parsed.ok) return parsed;
      return { ok: true, decided: parsed.events.map((event) => ({ event, decision: routeS3Event(specs, topic, event) })) };
    }
    const parsed = parseDocumentEvent(msg);
    if (!parsed.ok) return parsed;
    return { ok: true, decided: parsed.events.map((event) => ({ event, decision: routeDocumentEvent(specs, topic, event) })) };
  }

  async function handleMessage(group: Group, batch: EventBatch, msg: EventMessage): Promise<void> {
    const first = firstOnTopic.get(batch.topic)!;
    const parsed = decide(first.trigger, batch.topic, msg);
    const letters = new Map<string, DeadLetter[]>();
    const deadLetter = (topic: string, rejection: Rejection, pipeline?: string): void => {
      const headers: DeadLetter['headers'] = {
        [DeadLetterHeader.reason]: rejection.reason.slice(0, 2000),
        [DeadLetterHeader.type]: rejection.type,
        [DeadLetterHeader.originalTopic]: batch.topic,
        [DeadLetterHeader.originalPartition]: String(batch.partition),
        [DeadLetterHeader.originalOffset]: msg.offset,
        ...(pipeline ? { [DeadLetterHeader.pipeline]: pipeline } : {}),
      };
      letters.set(topic, [...(letters.get(topic) ?? []), { key: msg.key, value: msg.value, headers }]);
    };
    const ownsTopicLetters = first.groupKey === group.key;
    const topicLetters = deadLetterTopicOf(first.trigger);

    if (!parsed.ok) {
      if (ownsTopicLetters) deadLetter(topicLetters, parsed.rejection);
    } else {
      const refused: Rejection[] = [];
      const todo: Array<{ route: Route<PipelineSpec>; event: DocumentEvent }> = [];
      for (const { event, decision } of parsed.decided) {
        if (!decision.ok) refused.push(decision.rejection);
        // A route of another group is that group's to signal.
        else
          for (const route of decision.routes)
            if (groupKey(groupOf(route.trigger, opts.brokers)) === group.key) todo.push({ route, event });
      }
      if (refused.length && ownsTopicLetters)
        deadLetter(topicLetters, { type: refused[0]!.type, reason: refused.map((r) => r.reason).join('; ') });
      // Sequential, so one document's events reach Temporal in partition order.
      for (const { route, event } of todo) {
        if (await isRetired(route.target)) {
          stats.skippedRetired++;
          continue;
        }
        try {
          await signal(route, event);
          stats.signalled++;
        } catch (err) {
          if (isRetryableTemporalError(err)) throw err;
          const reason = `${route.target.name} v${route.target.version} refused ${route.uri}: ${(err as Error).message}`;
          deadLetter(
            deadLetterTopicOf(route.trigger),
            { type: RejectionType.RejectedByTemporal, reason },
            `${route.target.name}-v${route.target.version}`,
          );
        }
      }
    }
    // Dead letters last: if a signal must be retried, the message is retried whole and nothing was sent twice here.
    for (const [topic, records] of letters) {
      await sinkFor(group).send(topic, records);
      stats.deadLettered += records.length;
      for (const r of records)
        log('warn', 'dead-lettered', {
          topic: batch.topic,
          partition: batch.partition,
          offset: msg.offset,
          deadLetterTopic: topic,
          type: r.headers[DeadLetterHeader.type],
        });
    }
  }

  const stopAll = async (): Promise<void> => {
    await Promise.allSettled([...groups.values()].map((g) => g.source?.stop()));
    await Promise.allSettled([...sinks.values()].map((s) => s.close()));
    await Promise.allSettled([...ledgers.values()].map((l) => l.close()));
  };

  try {
    for (const group of groups.values()) {
      group.source = createKafkaEventSource(
        {
          ...opts.consumer,
          ...group.security,
          brokers: group.brokers,
          groupId: group.groupId,
          topics: [...group.subscriptions].map(([topic, fromBeginning]) => ({ topic, fromBeginning })),
          ...(opts.retry ? { retry: { initialMs: opts.retry.initialMs ?? 250, maxMs: opts.retry.maxMs ?? 10_000 } } : {}),
        },
        { log },
      );
      await group.source.run(async (batch, ctx) => {
        for (const msg of batch.messages) {
          if (ctx.signal.aborted) return;
          await handleMessage(group, batch, msg);
          ctx.resolve(msg.offset);
        }
      });
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    routes,
    stats: () => ({ ...stats, retrying: [...groups.values()].flatMap((g) => g.source?.retrying() ?? []) }),
    stop: () => (stopping ??= stopAll()),
  };
}
