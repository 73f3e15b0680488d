import type { TokenCounter } from './chunker.ts';

/**
 * Counts UTF-16 code units, the length every JS splitter (LangChain, chonkie) uses by default: character-sized chunks
 * for peer comparisons and for embedders without a tokenizer. It is additive, so piece sums are exact chunk lengths.
 */
export function createCharCounter(): TokenCounter {
  return { name: 'chars', count: (text) => text.length };
}
