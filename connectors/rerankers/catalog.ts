import { ConnectorError, FailureType } from '../shared/errors.ts';
import { sigmoid } from './reranker.ts';

/**
 * What a reranking model needs from us to score right: how it reads a pair, how long a pair may be, and how its raw
 * output becomes a score. A wrong prompt or activation does not fail, it quietly reorders results, so each lives here
 * once and is pinned by catalog.test.ts.
 */

/**
 * - `cross-encoder`: an encoder over `[CLS] query [SEP] document [SEP]` (or XLM-R's `<s>…</s></s>…</s>`) with a
 *   classification head;
 * - `llm-yes-no`: a causal LM asked whether the document meets the query; the score is P("yes") against P("no") at the
 *   next token after a fixed prompt (Qwen3-Reranker);
 * - `hosted`: behind an API that does not say.
 */
export type RerankerKind = 'cross-encoder' | 'llm-yes-no' | 'hosted';

/**
 * How the model's output becomes the score:
 * - `sigmoid`: one logit, squashed to a probability (sentence-transformers' default for one-label cross-encoders);
 * - `softmax`: several labels; the score is the softmax probability of `positiveLabel`;
 * - `yes-no`: softmax over the logits of the "yes" and "no" tokens at the last position, P("yes");
 * - `hosted`: the service's own relevance score in [0, 1].
 */
export type RerankScoring =
  | { type: 'sigmoid' }
  | { type: 'softmax'; positiveLabel: number }
  | { type: 'yes-no'; yes: string; no: string }
  | { type: 'hosted' };

export type RerankerProvider = 'local-onnx' | 'tei' | 'vllm' | 'jina' | 'cohere';

/** The exact text a yes/no LLM reranker reads: `prefix`, then `user` filled in, then `suffix`; it answers next. */
export interface YesNoPrompt {
  /** Everything before the user turn's content: the system turn and the user turn's opening. */
  readonly prefix: string;
  /** The user turn's content; `{instruction}`, `{query}` and `{document}` are filled in. */
  readonly user: string;
  /** Closes the user turn and opens the assistant's, with an empty think block, so the next token is the answer. */
  readonly suffix: string;
  readonly defaultInstruction: string;
}

export interface RerankerEntry {
  /** The published name; lookups ignore case and also accept the Hugging Face id. */
  readonly id: string;
  readonly hfId: string | null;
  readonly kind: RerankerKind;
  /** Tokens of the whole pair (or prompt) the model reads. */
  readonly maxTokens: number;
  readonly scoring: RerankScoring;
  readonly prompt: YesNoPrompt | null;
  readonly multilingual: boolean;
  /** SPDX id where there is one; `proprietary` for API-only models. */
  readonly license: string;
  readonly providers: readonly RerankerProvider[];
  readonly notes: string;
  /** Fields taken from memory of the model card that no one here has checked against the card or the weights. */
  readonly unverified: readonly (keyof RerankerEntry)[];
}

/**
 * Qwen3-Reranker's prompt, from the model card's reference code (format_instruction, prefix, suffix) and checked
 * against the serving templates published for it (the GGUF `rerank` chat template, Prime Intellect's classify API):
 * a system turn fixing the yes/no answer, a user turn with `<Instruct>`, `<Query>` and `<Document>` lines, and an
 * assistant turn opened with an empty think block (the suffix ends with two newlines after `</think>`).
 */
export const QWEN3_RERANKER_PROMPT: YesNoPrompt = {
  prefix:
    '<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. ' +
    'Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n',
  user: '<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}',
  suffix: '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
  defaultInstruction: 'Given a web search query, retrieve relevant passages that answer the query',
};

type Required = Pick<RerankerEntry, 'id' | 'kind' | 'maxTokens' | 'scoring' | 'license' | 'providers'>;
const entry = (e: Required & Partial<RerankerEntry>): RerankerEntry => ({
  id: e.id,
  hfId: e.hfId ?? null,
  kind: e.kind,
  maxTokens: e.maxTokens,
  scoring: e.scoring,
  prompt: e.prompt ?? null,
  multilingual: e.multilingual ?? false,
  license: e.license,
  providers: e.providers,
  notes: e.notes ?? '',
  unverified: e.unverified ?? [],
});

const SIGMOID: RerankScoring = { type: 'sigmoid' };
const HOSTED: RerankScoring = { type: 'hosted' };
const LOCAL = ['local-onnx', 'tei'] as const;

const msMarco = (id: string, hfId: string): RerankerEntry =>
  entry({
    id,
    hfId,
    kind: 'cross-encoder',
    maxTokens: 512,
    scoring: SIGMOID,
    license: 'Apache-2.0',
    providers: LOCAL,
    notes: 'English, trained on MS MARCO passage ranking; one logit, sigmoid in sentence-transformers.',
  });

const qwen3 = (size: string): RerankerEntry =>
  entry({
    id: `Qwen3-Reranker-${size}`,
    hfId: `Qwen/Qwen3-Reranker-${size}`,
    kind: 'llm-yes-no',
    maxTokens: 32_768,
    scoring: { type: 'yes-no', yes: 'yes', no: 'no' },
    prompt: QWEN3_RERANKER_PROMPT,
    multilingual: true,
    license: 'Apache-2.0',
    providers: ['vllm'],
    notes:
      'A causal LM, not a cross-encoder: score = softmax([logit("no"), logit("yes")]) at the last position, i.e. ' +
      'sigmoid(logit("yes") - logit("no")). Left padding (the answer position must be the last real token). The ' +
      "card's reference code caps a prompt at 8,192 tokens; the model's context is 32k.",
  });

export const RERANKERS: readonly RerankerEntry[] = [
  msMarco('ms-marco-MiniLM-L-6-v2', 'cross-encoder/ms-marco-MiniLM-L-6-v2'),
  msMarco('ms-marco-MiniLM-L-12-v2', 'cross-encoder/ms-marco-MiniLM-L-12-v2'),
  msMarco('ms-marco-TinyBERT-L-2-v2', 'cross-encoder/ms-marco-TinyBERT-L-2-v2'),
  entry({
    id: 'bge-reranker-base',
    hfId: 'BAAI/bge-reranker-base',
    kind: 'cross-encoder',
    maxTokens: 512,
    scoring: SIGMOID,
    multilingual: true,
    license: 'MIT',
    providers: LOCAL,
    notes: 'XLM-RoBERTa, English and Chinese. FlagEmbedding returns the raw logit unless normalize=True (then sigmoid).',
  }),
  entry({
    id: 'bge-reranker-large',
    hfId: 'BAAI/bge-reranker-large',
    kind: 'cross-encoder',
    maxTokens: 512,
    scoring: SIGMOID,
    multilingual: true,
    license: 'MIT',
    providers: LOCAL,
    notes: 'As bge-reranker-base, larger.',
  }),
  entry({
    id: 'bge-reranker-v2-m3',
    hfId: 'BAAI/bge-reranker-v2-m3',
    kind: 'cross-encoder',
    maxTokens: 8192,
    scoring: SIGMOID,
    multilingual: true,
    license: 'Apache-2.0',
    providers: LOCAL,
    notes: 'On bge-m3 (XLM-RoBERTa, 8k positions); its card uses max_length 512 or 1024 in examples for speed.',
    unverified: ['maxTokens', 'license'],
  }),
  entry({
    id: 'jina-reranker-v1-tiny-en',
    hfId: 'jinaai/jina-reranker-v1-tiny-en',
    kind: 'cross-encoder',
    maxTokens: 8192,
    scoring: SIGMOID,
    license: 'Apache-2.0',
    providers: LOCAL,
    notes: 'JinaBERT with ALiBi (custom code; ONNX exports under onnx/ on the hub). Also served by the Jina API.',
    unverified: ['maxTokens'],
  }),
  entry({
    id: 'jina-reranker-v1-turbo-en',
    hfId: 'jinaai/jina-reranker-v1-turbo-en',
    kind: 'cross-encoder',
    maxTokens: 8192,
    scoring: SIGMOID,
    license: 'Apache-2.0',
    providers: LOCAL,
    notes: 'As v1-tiny, larger.',
    unverified: ['maxTokens'],
  }),
  entry({
    id: 'jina-reranker-v1-base-en',
    hfId: 'jinaai/jina-reranker-v1-base-en',
    kind: 'cross-encoder',
    maxTokens: 8192,
    scoring: SIGMOID,
    license: 'Apache-2.0',
    providers: ['local-onnx', 'tei', 'jina'],
    unverified: ['maxTokens', 'hfId'],
  }),
  entry({
    id: 'jina-reranker-v2-base-multilingual',
    hfId: 'jinaai/jina-reranker-v2-base-multilingual',
    kind: 'cross-encoder',
    maxTokens: 1024,
    scoring: SIGMOID,
    multilingual: true,
    license: 'CC-BY-NC-4.0',
    providers: ['local-onnx', 'jina'],
    notes: 'Non-commercial licence for the weights; the Jina API serves it commercially.',
    unverified: ['maxTokens'],
  }),
  qwen3('0.6B'),
  qwen3('4B'),
  qwen3('8B'),
  entry({
    id: 'rerank-v3.5',
    kind: 'hosted',
    maxTokens: 4096,
    scoring: HOSTED,
    multilingual: true,
    license: 'proprietary',
    providers: ['cohere'],
    notes: 'Cohere Rerank v2 API; max_tokens_per_doc defaults to 4,096 (documents are cut server-side).',
  }),
];

const byName = new Map<string, RerankerEntry>();
for (const m of RERANKERS) {
  byName.set(m.id.toLowerCase(), m);
  if (m.hfId) byName.set(m.hfId.toLowerCase(), m);
}

export function listRerankers(): readonly RerankerEntry[] {
  return RERANKERS;
}

export function findReranker(name: string): RerankerEntry | undefined {
  return byName.get(name.toLowerCase());
}

export function getReranker(name: string | RerankerEntry): RerankerEntry {
  if (typeof name !== 'string') return name;
  const e = findReranker(name);
  if (!e) throw new ConnectorError(FailureType.InvalidInput, `unknown reranker model "${name}"`);
  return e;
}

/**
 * The exact prompt a yes/no reranker reads for one pair (the model answers at the next token). The instruction
 * defaults to the model's retrieval one; an empty instruction, query or document is refused.
 */
export function buildYesNoPrompt(model: string | RerankerEntry, query: string, document: string, instruction?: string): string {
  const m = getReranker(model);
  if (!m.prompt) throw new ConnectorError(FailureType.InvalidInput, `${m.id} is not a yes/no reranker`);
  const inst = instruction ?? m.prompt.defaultInstruction;
  for (const [what, v] of [
    ['instruction', inst],
    ['query', query],
    ['document', document],
  ] as const) {
    if (typeof v !== 'string' || v.trim() === '') throw new ConnectorError(FailureType.InvalidInput, `${m.id}: empty ${what}`);
  }
  // One pass over the template, so a `{query}` inside the query or document text is left alone.
  const user = m.prompt.user.replace(/\{(instruction|query|document)\}/g, (_, k: string) =>
    k === 'instruction' ? inst : k === 'query' ? query : document,
  );
  return m.prompt.prefix + user + m.prompt.suffix;
}

/** P("yes") from the logits of "yes" and "no" at the answer position: softmax over the two, as the card computes it. */
export function yesNoScore(logitYes: number, logitNo: number): number {
  return sigmoid(logitYes - logitNo);
}

/** The score a cross-encoder's head gives, as the entry's scoring says; `row` is one pair's logits. */
export function headScore(scoring: RerankScoring, row: ArrayLike<number>): number {
  if (scoring.type === 'sigmoid') return sigmoid(row[0]!);
  if (scoring.type === 'softmax') {
    let max = -Infinity;
    for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
    let sum = 0;
    for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
    return Math.exp(row[scoring.positiveLabel]! - max) / sum;
  }
  throw new ConnectorError(FailureType.InvalidInput, `a ${scoring.type} score is not computed from a classification head`);
}
