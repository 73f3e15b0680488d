// What the Temporal UI shows of a run: each workflow's static summary (one line) and details (Markdown), its current
// details while it runs, and each activity's summary. Built only from identities (pipeline, tenant, source uri, sink
// names) and counts: never a document's text, never a credential. Bounded, since they travel in history. Type imports
// only: workflows load this file in their sandbox, and the clients that start workflows use it as is.
import type { DocEvent, PipelineRef, SourceProgress } from './types.ts';

/** Longest summary (a workflow's or an activity's); the full uri is always in the SourceUri search attribute. */
export const MAX_SUMMARY = 200;
/** Longest details text (static or current). */
export const MAX_DETAILS = 2_000;
/** Longest document or source name inside an activity summary. */
const MAX_NAME = 80;

/** Cuts `s` to `max` characters (code points) with an ellipsis in the middle, so both ends of a uri stay readable. */
export function bounded(s: string, max: number): string {
  const chars = Array.from(s);
  if (chars.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.4);
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (max - 1 - head)).join('')}`;
}

/** One line: control characters (newlines included) become spaces. */
function oneLine(s: string): string {
  return s.replace(/\p{Cc}/gu, ' ');
}

/** A uri as shown: on one line, without a `user:password@` part. */
export function displayUri(uri: string): string {
  return oneLine(uri).replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** The last segment of a uri (`s3://b/docs/a.pdf` → `a.pdf`); a prefix (`s3://b/docs/`) is shown whole. */
export function documentName(uri: string): string {
  const shown = displayUri(uri);
  const slash = shown.lastIndexOf('/');
  const name = slash >= 0 && slash < shown.length - 1 ? shown.slice(slash + 1) : shown;
  return bounded(name, MAX_NAME);
}

const pipelineName = (p: Pick<PipelineRef, 'name' | 'version'>): string => `${p.name} v${p.version}`;
const tenantNote = (p: Pick<PipelineRef, 'tenant'>): string => `(tenant ${p.tenant})`;

/** Inline code that survives backticks in the text. */
function code(s: string): string {
  const text = oneLine(s);
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

// ---- Workflows: static summary and details (set when the workflow starts) ----

/** `ingest s3://bucket/docs/ (tenant acme)`. */
export function sourceRunSummary(p: PipelineRef, sourceUri: string): string {
  return bounded(`ingest ${displayUri(sourceUri)} ${tenantNote(p)}`, MAX_SUMMARY);
}

/** `ingest s3://bucket/doc.pdf (tenant acme)`; `delete …` or `repair …` for those events. */
export function documentSummary(p: PipelineRef, uri: string, event?: Pick<DocEvent, 'kind' | 'repair'>): string {
  const verb = event?.kind === 'delete' ? 'delete' : event?.repair ? 'repair' : 'ingest';
  return bounded(`${verb} ${displayUri(uri)} ${tenantNote(p)}`, MAX_SUMMARY);
}

/** `reconcile docs v3 (tenant acme)`, with ` under s3://…` and `, dry run` when they apply. */
export function reconcileSummary(p: PipelineRef, opts: { dryRun: boolean; sourcePrefix?: string }): string {
  const under = opts.sourcePrefix ? ` under ${displayUri(opts.sourcePrefix)}` : '';
  const dry = opts.dryRun ? ' (dry run)' : '';
  return bounded(`reconcile ${pipelineName(p)}${under} ${tenantNote(p)}${dry}`, MAX_SUMMARY);
}

/** `promote docs v3 (tenant acme)`. */
export function promoteSummary(p: PipelineRef): string {
  return bounded(`promote ${pipelineName(p)} ${tenantNote(p)}`, MAX_SUMMARY);
}

/**
 * The static details of any run: what it is, then the pipeline, tenant, source, sinks and task queues, as a Markdown
 * list. `extra` adds lines (label → plain value).
 */
export function runDetails(what: string, p: PipelineRef, source?: string, extra: Record<string, string> = {}): string {
  const lines = [
    `**${oneLine(what)}**`,
    '',
    `- Pipeline: ${code(p.name)} version ${p.version}${p.fingerprint ? ` (fingerprint ${code(p.fingerprint)})` : ''}`,
    `- Tenant: ${code(p.tenant)}`,
    ...(source === undefined ? [] : [`- Source: ${code(bounded(displayUri(source), 1_000))}`]),
    `- Sinks: ${p.sinks.map(code).join(', ') || 'none'}`,
    `- Task queues: ${code(p.ingestQueue)}, ${code(p.embedQueue)}`,
    ...Object.entries(extra).map(([k, v]) => `- ${oneLine(k)}: ${oneLine(v)}`),
  ];
  return bounded(lines.join('\n'), MAX_DETAILS);
}

// ---- Workflows: current details (while running; held in the worker, never in history) ----

/** A source run's progress: phase, counts, window, paused. */
export function sourceProgressDetails(p: Omit<SourceProgress, 'startedAt'>, phase: 'list' | 'sweep'): string {
  const state = p.done ? 'Finished' : p.paused ? 'Paused' : 'Running';
  const step = phase === 'sweep' ? 'sweeping removed documents' : `listing page ${p.pages}`;
  return bounded(
    [
      `**${state}**: ${step}`,
      '',
      `- ${p.listed} listed: ${p.ingested} ingested, ${p.unchanged} unchanged, ${p.deleted} deleted, ${p.failed} failed, ${p.handedOff} handed off`,
      `- ${p.inFlight} in flight, at most ${p.maxInFlight} at once${p.paused ? ' (paused: none started until resumed)' : ''}`,
      `- ${p.chunks} chunks`,
    ].join('\n'),
    MAX_DETAILS,
  );
}

/** A document's current step (`fetching and parsing`, `failed: CorruptDocument`): failure types, never messages. */
export function documentStepDetails(status: string, step: string, applied: number, pending: number): string {
  return bounded(`**${oneLine(status)}**: ${oneLine(step)}\n\n- ${applied} event(s) applied, ${pending} pending`, MAX_DETAILS);
}

/** A reconciliation's phase and what it found so far. */
export function reconcileProgressDetails(r: {
  phase: string;
  documents: number;
  repairs: { started: number; ingested: number; failed: number };
  sinks: Record<string, { missing: number; orphans: number; repaired: number; error?: string }>;
}): string {
  return bounded(
    [
      `**${r.phase}**: ${r.documents} documents checked; repairs ${r.repairs.started} started, ${r.repairs.ingested} ingested, ${r.repairs.failed} failed`,
      '',
      ...Object.entries(r.sinks).map(
        ([sink, d]) =>
          `- ${code(sink)}: ${d.missing} missing, ${d.orphans} orphans, ${d.repaired} repaired${d.error === undefined ? '' : ' (unreachable)'}`,
      ),
    ].join('\n'),
    MAX_DETAILS,
  );
}

// ---- Activities: one summary per call ----

/** `upsert doc.pdf -> weaviate`, `fetch and parse doc.pdf`: a verb, the document's name, the sink when there is one. */
export function activitySummary(verb: string, uri: string, sink?: string): string {
  return bounded(`${verb} ${documentName(uri)}${sink === undefined ? '' : ` -> ${oneLine(sink)}`}`, MAX_SUMMARY);
}

/** An activity that concerns a sink or the pipeline, not one document (`check index in weaviate`). */
export function stepSummary(text: string): string {
  return bounded(oneLine(text), MAX_SUMMARY);
}
