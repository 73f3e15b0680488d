import { createHash } from 'node:crypto';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { MODELS } from './catalog-models.ts';

/**
 * What an embedding model needs from us to retrieve well: its width, window, pooling, normalisation and, above all,
 * the exact text it expects on the query side and the document side. A wrong prefix does not fail, it quietly
 * lowers recall, so every format lives here once and is pinned by catalog.test.ts.
 */

export type ModelFamily =
  | 'sentence-transformers'
  | 'bge'
  | 'gte'
  | 'e5'
  | 'qwen3'
  | 'jina'
  | 'gritlm'
  | 'instructor'
  | 'mxbai'
  | 'seed'
  | 'openai'
  | 'cohere';

/**
 * - `cls`: the first token's hidden state; `mean`: the average over the real tokens;
 * - `last-token`: the final (EOS) token of a decoder, so padding must not sit after it (left padding or indexing);
 * - `mean-excluding-instruction`: the average over the text's tokens only, the instruction's tokens masked out;
 * - `hosted`: done behind an API that does not say.
 */
export type Pooling = 'cls' | 'mean' | 'last-token' | 'mean-excluding-instruction' | 'hosted';

/** The vocabulary a token count must use: counting with the wrong one misjudges the window. */
export type TokenizerFamily =
  'bert-base-uncased' | 'bert-base-chinese' | 'xlm-roberta' | 't5' | 'qwen2' | 'mistral' | 'cl100k_base' | 'cohere' | 'seed';

/**
 * Who can serve the model: `local-onnx` (this process, CPU: encoders with CLS or mean pooling and BERT-style inputs),
 * `tei` (Text Embeddings Inference or our TEI-compatible GPU server), `vllm`, `sentence-transformers` (a Python server
 * running the model's own sentence-transformers pipeline, for pooling no other server does), and the hosted APIs.
 */
export type Provider =
  'local-onnx' | 'tei' | 'vllm' | 'sentence-transformers' | 'openai' | 'cohere' | 'jina' | 'mixedbread' | 'volcengine';

/**
 * How a model's tasks work:
 * - `none`: fixed prefixes (maybe empty); naming a task is a mistake and is refused;
 * - `instruction`: `{task}` in the prefix is a free-text instruction, each side has a default retrieval one;
 * - `named`: the task is one of `namedTasks` (Jina's adapters, Cohere's input_type); the weights see that task's
 *   prefix, a hosted API takes the name as a request parameter and adds the prefix itself.
 */
export type TaskKind = 'none' | 'instruction' | 'named';

export type Side = 'query' | 'document';

export interface SideFormat {
  /** Text put before the input; `{task}` stands for the task's instruction (or, for named tasks, its prefix). */
  readonly prefix: string;
  /** The task used when the caller names none: the model's retrieval task. Null for `none` models. */
  readonly defaultTask: string | null;
}

export interface ModelEntry {
  /** The model's published name; lookups ignore case and also accept the Hugging Face id. */
  readonly id: string;
  /** Hugging Face repository of the weights; null for API-only models. */
  readonly hfId: string | null;
  readonly family: ModelFamily;
  readonly dims: number;
  /** Smaller sizes the vector may be cut to (then renormalised), ascending; empty when the model was not trained for it. */
  readonly matryoshkaDims: readonly number[];
  /** Tokens of one input the model sees, special tokens included; longer inputs are truncated. */
  readonly maxTokens: number;
  readonly pooling: Pooling;
  /** Whether the model's vectors are L2-normalised (cosine and dot product then agree). */
  readonly normalized: boolean;
  readonly tasks: TaskKind;
  /** `named` models only: task name -> the prefix the weights expect for it. */
  readonly namedTasks: Readonly<Record<string, string>> | null;
  readonly query: SideFormat;
  readonly document: SideFormat;
  readonly tokenizer: TokenizerFamily;
  /** SPDX id where there is one; `proprietary` for API-only models. */
  readonly license: string;
  readonly providers: readonly Provider[];
  readonly notes: string;
  /** Fields taken from memory of the model card that no one here has checked against the card or the weights. */
  readonly unverified: readonly (keyof ModelEntry)[];
}

export const CatalogErrorReason = {
  UnknownModel: 'UnknownModel',
  UnsupportedDims: 'UnsupportedDims',
  UnsupportedTask: 'UnsupportedTask',
  InvalidText: 'InvalidText',
} as const;
export type CatalogErrorReason = (typeof CatalogErrorReason)[keyof typeof CatalogErrorReason];

/** A request the catalog cannot honour: bad input, so never retryable. */
export class CatalogError extends ConnectorError {
  override name = 'CatalogError';
  readonly reason: CatalogErrorReason;

  constructor(reason: CatalogErrorReason, message: string) {
    super(FailureType.InvalidInput, message);
    this.reason = reason;
  }
}

export interface FormatOptions {
  /** The instruction (instruction models) or task name (named-task models); default: the model's retrieval task. */
  task?: string;
  /** The text goes to the model's hosted API, which applies named tasks itself from the task name. */
  hosted?: boolean;
}

export interface PromptParts {
  /** What precedes the text; `mean-excluding-instruction` models pool over the text's tokens only. */
  prefix: string;
  text: string;
  /** The resolved task: the instruction, or the task name a hosted API takes (Cohere input_type, Jina task). */
  task: string | null;
}

const byName = new Map<string, ModelEntry>();
for (const m of MODELS) {
  byName.set(m.id.toLowerCase(), m);
  if (m.hfId) byName.set(m.hfId.toLowerCase(), m);
}

/** Every entry, in catalog order. */
export function listModels(): readonly ModelEntry[] {
  return MODELS;
}

/** The entry for a model name or Hugging Face id (any case), or undefined. */
export function findModel(name: string): ModelEntry | undefined {
  return byName.get(name.toLowerCase());
}

/** The entry for a model name or Hugging Face id; a CatalogError names the unknown model. */
export function getModel(model: string | ModelEntry): ModelEntry {
  if (typeof model !== 'string') return model;
  const entry = findModel(model);
  if (!entry)
    throw new CatalogError(CatalogErrorReason.UnknownModel, `unknown embedding model "${model}" (see \`ingest models\`)`);
  return entry;
}

/** Splits one input into the prefix the model expects and the text, resolving the side's task. */
export function promptParts(model: string | ModelEntry, side: Side, text: string, opts: FormatOptions = {}): PromptParts {
  const m = getModel(model);
  if (typeof text !== 'string') throw new CatalogError(CatalogErrorReason.InvalidText, `${side} text must be a string`);
  const format = m[side];
  if (m.tasks === 'none') {
    if (opts.task !== undefined) {
      throw new CatalogError(CatalogErrorReason.UnsupportedTask, `${m.id} takes no task; got "${opts.task}"`);
    }
    return { prefix: format.prefix, text, task: null };
  }
  // Asymmetric instruction models leave the document side bare: a task named for the pair does not apply to it.
  if (!format.prefix.includes('{task}')) return { prefix: format.prefix, text, task: null };
  const task = opts.task ?? format.defaultTask;
  if (task === null || task.trim() === '') {
    throw new CatalogError(CatalogErrorReason.UnsupportedTask, `${m.id} needs a non-empty ${side} task`);
  }
  if (m.tasks === 'instruction') return { prefix: format.prefix.replaceAll('{task}', task), text, task };
  if (!m.namedTasks || !Object.hasOwn(m.namedTasks, task)) {
    const known = Object.keys(m.namedTasks ?? {}).join(', ');
    throw new CatalogError(CatalogErrorReason.UnsupportedTask, `${m.id} has no task "${task}" (tasks: ${known})`);
  }
  return { prefix: opts.hosted ? '' : format.prefix.replaceAll('{task}', m.namedTasks[task]!), text, task };
}

/** The exact string the model sees for a search query. */
export function formatQuery(model: string | ModelEntry, text: string, opts?: FormatOptions): string {
  const p = promptParts(model, 'query', text, opts);
  return p.prefix + p.text;
}

/** The exact string the model sees for a document (chunk) to index. */
export function formatDocument(model: string | ModelEntry, text: string, opts?: FormatOptions): string {
  const p = promptParts(model, 'document', text, opts);
  return p.prefix + p.text;
}

/**
 * Checks a Matryoshka size and gives the cut: the first `dims` components, renormalised, since a prefix of a unit
 * vector is not one. The model's own width is always allowed; other sizes only where the entry lists them, because
 * cutting a model not trained for it keeps the shape and loses the meaning.
 */
export function matryoshka(
  model: string | ModelEntry,
  dims: number,
): { dims: number; truncate: (v: Float32Array) => Float32Array } {
  const m = getModel(model);
  if (dims !== m.dims && !m.matryoshkaDims.includes(dims)) {
    const allowed = m.matryoshkaDims.length > 0 ? `${m.matryoshkaDims.join(', ')} or ${m.dims}` : `only ${m.dims}`;
    throw new CatalogError(CatalogErrorReason.UnsupportedDims, `${m.id} cannot be cut to ${dims} dims (allowed: ${allowed})`);
  }
  return {
    dims,
    truncate(v) {
      if (v.length !== m.dims) {
        throw new CatalogError(CatalogErrorReason.UnsupportedDims, `${m.id}: expected a ${m.dims}-dim vector, got ${v.length}`);
      }
      if (dims === v.length) return v;
      const out = v.slice(0, dims);
      let sq = 0;
      for (const x of out) sq += x * x;
      const scale = sq > 0 ? 1 / Math.sqrt(sq) : 1;
      for (let i = 0; i < dims; i++) out[i]! *= scale;
      return out;
    },
  };
}

/**
 * A short hash of the effective formats: what both sides look like around a placeholder text. Any change to a prefix,
 * an instruction or a chosen task changes it, and with it the embedder identity, so cached vectors and indexes built
 * with the old prompts are never mixed with new ones.
 */
export function promptVersion(formatQueryFn: (t: string) => string, formatDocumentFn: (t: string) => string): string {
  const probe = '\u0000';
  return createHash('sha256')
    .update(`q:${formatQueryFn(probe)}\u0001d:${formatDocumentFn(probe)}`)
    .digest('hex')
    .slice(0, 8);
}

/** The catalog entry's prompt version for the given task choice on each side. */
export function modelPromptVersion(
  model: string | ModelEntry,
  opts: { query?: FormatOptions; document?: FormatOptions } = {},
): string {
  const m = getModel(model);
  return promptVersion(
    (t) => formatQuery(m, t, opts.query),
    (t) => formatDocument(m, t, opts.document),
  );
}

/** `provider:model:dims:p<promptVersion>`: the embedder identity that keys the embedding cache and the index version. */
export function embedderIdentity(parts: { provider: string; model: string; dims: number; promptVersion: string }): string {
  return `${parts.provider}:${parts.model}:${parts.dims}:p${parts.promptVersion}`;
}
