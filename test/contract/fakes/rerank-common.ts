import { fakeTokens } from './server.ts';

// What the rerank fakes share: a deterministic relevance score standing in for a model's, and token-level truncation
// as the services apply it. The score is the share of the query's words found in the document's first `maxTokens`
// tokens, as a logit (so a service can return it raw or squashed): relevant texts rank first, as with a real model.

const words = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** The first `maxTokens` fake tokens of `text` (words and punctuation marks). */
export function cutTokens(text: string, maxTokens: number): string {
  const tokens = text.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
  return tokens.length <= maxTokens ? text : tokens.slice(0, maxTokens).join(' ');
}

/** A logit in [-4, 4]: -4 with no query word in the document, 4 with all of them. */
export function fakeRelevanceLogit(query: string, document: string): number {
  const q = new Set(words(query));
  if (q.size === 0) return -4;
  const d = new Set(words(document));
  let hit = 0;
  for (const w of q) if (d.has(w)) hit++;
  return -4 + (8 * hit) / q.size;
}

export const squash = (x: number): number => 1 / (1 + Math.exp(-x));

export { fakeTokens };
