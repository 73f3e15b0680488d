// Which served pipeline versions an event goes to: pure functions, so every rule is unit-tested without servers.
import { RejectionType, type DocumentEvent, type Rejection, type S3DocumentEvent } from './schema.ts';
import { DEFAULT_TRIGGER_GROUP, type TriggerSpec } from './trigger-config.ts';

/** What routing needs of a pipeline version (a PipelineSpec has all of it). */
export interface RouteTarget {
  name: string;
  version: number;
  tenant: string;
  triggers?: TriggerSpec[];
}

export interface Route<T extends RouteTarget> {
  target: T;
  /** The tenant the document belongs to in this version. */
  tenant: string;
  /** The declaration that matched (its dead-letter topic takes what this version refuses). */
  trigger: TriggerSpec;
  uri: string;
}

export type RouteDecision<T extends RouteTarget> = { ok: true; routes: Array<Route<T>> } | { ok: false; rejection: Rejection };

const label = (t: RouteTarget): string => `${t.name} v${t.version}`;

/** The triggers of every target on one topic. */
export function triggersOn<T extends RouteTarget>(targets: T[], topic: string): Array<{ target: T; trigger: TriggerSpec }> {
  return targets.flatMap((target) =>
    (target.triggers ?? []).filter((t) => t.topic === topic).map((trigger) => ({ target, trigger })),
  );
}

/**
 * A document event goes to every version whose kafka trigger is on the topic, whose name is the event's pipeline
 * (when it names one), and whose trigger admits the event's tenant (default: the version's own tenant).
 */
export function routeDocumentEvent<T extends RouteTarget>(targets: T[], topic: string, event: DocumentEvent): RouteDecision<T> {
  const onTopic = triggersOn(targets, topic).filter((m) => m.trigger.kind === 'kafka');
  const named = event.pipeline === undefined ? onTopic : onTopic.filter((m) => m.target.name === event.pipeline);
  if (named.length === 0) {
    const what = event.pipeline === undefined ? 'no pipeline' : `no pipeline named ${event.pipeline}`;
    return unroutable(`${what} is served with a kafka trigger on topic ${topic}`);
  }
  const routes: Array<Route<T>> = [];
  for (const { target, trigger } of named) {
    const tenant = event.tenant ?? target.tenant;
    const allowed = (trigger.kind === 'kafka' ? trigger.tenants : undefined) ?? [target.tenant];
    if (allowed.includes(tenant)) routes.push({ target, trigger, tenant, uri: event.uri });
  }
  if (routes.length === 0)
    return unroutable(`tenant ${event.tenant ?? '(default)'} is not served by ${named.map((m) => label(m.target)).join(', ')}`);
  return { ok: true, routes: dedupe(routes) };
}

/** An S3 record goes to every version with an s3-events trigger on the topic for its bucket and a prefix of its key. */
export function routeS3Event<T extends RouteTarget>(targets: T[], topic: string, event: S3DocumentEvent): RouteDecision<T> {
  const routes: Array<Route<T>> = [];
  for (const { target, trigger } of triggersOn(targets, topic)) {
    if (trigger.kind !== 's3-events' || trigger.bucket !== event.bucket || !event.key.startsWith(trigger.prefix)) continue;
    routes.push({ target, trigger, tenant: target.tenant, uri: event.uri });
  }
  if (routes.length === 0)
    return unroutable(`no pipeline declares bucket ${event.bucket} for key ${event.key} on topic ${topic}`);
  return { ok: true, routes: dedupe(routes) };
}

/** The consumer group a trigger joins, and the brokers it reads from. */
export function groupOf(trigger: TriggerSpec, defaultBrokers: string[]): { groupId: string; brokers: string[] } {
  return { groupId: trigger.groupId ?? DEFAULT_TRIGGER_GROUP, brokers: trigger.brokers ?? defaultBrokers };
}

/** A key naming one consumer group on one cluster. */
export function groupKey(g: { groupId: string; brokers: string[] }): string {
  return `${[...g.brokers].sort().join(',')}|${g.groupId}`;
}

/**
 * Problems a set of served versions cannot run with: a topic read as two formats, or S3 notifications on one topic
 * read with two key encodings (the trigger parses a message once, before it knows the routes).
 */
export function checkTriggers(targets: RouteTarget[]): string[] {
  const problems = new Set<string>();
  const formats = new Map<string, string>();
  for (const t of targets.flatMap((target) => target.triggers ?? [])) {
    const format = t.kind === 's3-events' ? `s3-events (keyEncoding ${t.keyEncoding})` : t.kind;
    const seen = formats.get(t.topic);
    if (seen !== undefined && seen !== format) problems.add(`topic ${t.topic} is declared as ${seen} and as ${format}`);
    formats.set(t.topic, seen ?? format);
  }
  return [...problems];
}

// Two s3-events triggers of one version whose prefixes both match would otherwise signal the document twice.
function dedupe<T extends RouteTarget>(routes: Array<Route<T>>): Array<Route<T>> {
  const seen = new Set<string>();
  return routes.filter((r) => {
    const k = `${r.target.name}\u0000${r.target.version}\u0000${r.tenant}\u0000${r.uri}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function unroutable<T extends RouteTarget>(reason: string): RouteDecision<T> {
  return { ok: false, rejection: { type: RejectionType.UnroutableEvent, reason } };
}
