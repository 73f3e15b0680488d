import type { Normalizer, PreTokenizer } from 'tokenizers';
import { ConnectorError, FailureType } from '../shared/errors.ts';

/** The parts of a Hugging Face tokenizer.json that a WordPiece count depends on. */
interface TokenizerJson {
  added_tokens?: { content: string; normalized?: boolean }[];
  model?: {
    type?: string;
    vocab?: Record<string, number>;
    continuing_subword_prefix?: string;
    max_input_chars_per_word?: number;
  };
}

const WORD_CACHE_LIMIT = 50_000;

/**
 * Counts tokens synchronously, as the chunkers need and as the npm `tokenizers` binding cannot (its encode is async).
 * Normalisation and pre-tokenisation run in the native tokenizer, so they match it exactly; only the WordPiece
 * step (greedy longest match with a continuation prefix) runs here, with a cache of word counts since prose
 * repeats its words.
 */
export class WordPieceCounter {
  readonly #vocab: Set<string>;
  readonly #prefix: string;
  readonly #maxChars: number;
  readonly #normalizer: Normalizer | null;
  readonly #preTokenizer: PreTokenizer | null;
  /** Splits raw text on the added tokens matched before normalisation (BERT's [CLS], [SEP]...): one token each. */
  readonly #rawAdded: RegExp | undefined;
  readonly #cache = new Map<string, number>();

  constructor(json: TokenizerJson, normalizer: Normalizer | null, preTokenizer: PreTokenizer | null) {
    const model = json.model;
    if (model?.type !== 'WordPiece' || !model.vocab) {
      throw new ConnectorError(
        FailureType.InvalidInput,
        `token counting supports WordPiece tokenizers, not ${model?.type ?? 'unknown'}`,
      );
    }
    this.#vocab = new Set(Object.keys(model.vocab));
    this.#prefix = model.continuing_subword_prefix ?? '##';
    this.#maxChars = model.max_input_chars_per_word ?? 100;
    this.#normalizer = normalizer;
    this.#preTokenizer = preTokenizer;
    const added = (json.added_tokens ?? []).filter((t) => t.content.length > 0).map((t) => t.content);
    if (added.length > 0) {
      // Longest first, so the alternation behaves like the tokenizer's leftmost-longest match.
      const alts = added.sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      this.#rawAdded = new RegExp(alts.join('|'), 'g');
    }
  }

  count(text: string): number {
    if (!this.#rawAdded) return this.#countPlain(text);
    let total = 0;
    let last = 0;
    for (const m of text.matchAll(this.#rawAdded)) {
      total += this.#countPlain(text.slice(last, m.index)) + 1;
      last = m.index + m[0].length;
    }
    return total + this.#countPlain(text.slice(last));
  }

  #countPlain(text: string): number {
    if (text.length === 0) return 0;
    const normalized = this.#normalizer ? this.#normalizer.normalizeString(text) : text;
    if (normalized.length === 0) return 0;
    const words = this.#preTokenizer ? this.#preTokenizer.preTokenizeString(normalized).map((w) => w[0]) : [normalized];
    let total = 0;
    for (const word of words) total += this.#countWord(word);
    return total;
  }

  #countWord(word: string): number {
    const cached = this.#cache.get(word);
    if (cached !== undefined) return cached;
    const n = this.#wordPiece(word);
    if (this.#cache.size >= WORD_CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, n);
    return n;
  }

  #wordPiece(word: string): number {
    if (this.#vocab.has(word)) return 1;
    const chars = Array.from(word);
    if (chars.length > this.#maxChars) return 1;
    let pieces = 0;
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = false;
      while (start < end) {
        const sub = chars.slice(start, end).join('');
        if (this.#vocab.has(start > 0 ? this.#prefix + sub : sub)) {
          found = true;
          break;
        }
        end--;
      }
      // A word with any piece outside the vocabulary becomes a single [UNK].
      if (!found) return 1;
      pieces++;
      start = end;
    }
    return pieces;
  }
}
