// What meta-chunking needs from a causal LM: the log-probability of every token of a text given the text before it
// (perplexity chunking), and the next-token probabilities of a few answer tokens after a chat prompt (margin sampling).
// Two backends implement it: a vLLM-style OpenAI-compatible server and a small GGUF model run in-process on the CPU.

/** Token log-probabilities of a text, with each token's start as a UTF-16 index into that text. */
export interface TokenLogprobs {
  /** Start of each token in the scored text (non-decreasing, within [0, text.length]). */
  offsets: number[];
  /** Natural log of P(token | everything before it); null where the model saw no context (the first token). */
  logprobs: (number | null)[];
}

export interface ChatPrompt {
  system?: string;
  user: string;
}

export interface PromptScorer {
  /** Stable name of the model behind the scorer; it enters the chunker spec. */
  readonly name: string;
  /** Token log-probabilities of `text`, scored in one causal pass from its start. */
  scoreText(text: string): Promise<TokenLogprobs>;
  /**
   * The probability of each candidate (a string the model writes as one token, like "1") as the first token of the
   * assistant's answer to `prompt` under the model's chat template. A candidate the backend cannot see (outside a
   * server's top-k list) gets 0.
   */
  nextTokenProbs(prompt: ChatPrompt, candidates: readonly string[]): Promise<number[]>;
  close(): Promise<void>;
}

/** UTF-16 index of every code point boundary: `cpToUtf16[k]` is where code point `k` starts; the last entry is the length. */
export function codePointIndex(text: string): number[] {
  const out: number[] = [];
  let i = 0;
  for (const ch of text) {
    out.push(i);
    i += ch.length;
  }
  out.push(i);
  return out;
}

/**
 * Places detokenized token pieces on the text they came from and returns each piece's start (UTF-16).
 * Per-token detokenization is not exact: byte-level BPE splits a multi-byte character across tokens that each decode
 * to U+FFFD, and servers echo a BOS piece the text does not contain. A piece that matches the text at the cursor
 * advances it; a run of pieces that do not is placed where it starts (after any matching lead before its first
 * U+FFFD), and the cursor jumps to the next piece found just ahead. Offsets are non-decreasing; a piece of such a run
 * is off by at most the few characters the run covers.
 */
export function alignPieces(text: string, pieces: readonly string[]): number[] {
  const out: number[] = new Array<number>(pieces.length);
  let at = 0;
  for (let i = 0; i < pieces.length;) {
    const p = pieces[i]!;
    if (p.length === 0 || text.startsWith(p, at)) {
      out[i++] = at;
      at += p.length;
      continue;
    }
    const lead = p.split('\uFFFD')[0]!;
    const inner = lead.length > 0 && lead.length < p.length && text.startsWith(lead, at) ? at + lead.length : at;
    out[i] = at;
    let anchor = -1;
    let j = i + 1;
    for (; j < pieces.length && j - i <= 64; j++) {
      const q = pieces[j]!;
      if (q.length === 0 || q.includes('\uFFFD')) continue;
      const pos = text.indexOf(q, inner);
      if (pos >= 0 && pos - inner <= 2 * (j - i) + 2) anchor = pos;
      break;
    }
    if (anchor < 0) {
      // Nothing to re-sync on: step over one character when this piece stands for part of a non-ASCII one.
      at = inner;
      const cp = text.codePointAt(at);
      if (p.includes('\uFFFD') && cp !== undefined && cp > 0x7f) at += cp > 0xffff ? 2 : 1;
      i++;
      continue;
    }
    for (let k = i + 1; k < j; k++) out[k] = Math.min(inner, anchor);
    at = anchor;
    i = j;
  }
  return out;
}

/** Mean negative log-likelihood per span: tokens belong to the span holding their first non-space character. */
export function meanNllPerSpan(text: string, scored: TokenLogprobs, spans: readonly { start: number; end: number }[], base = 0) {
  const sum = new Float64Array(spans.length);
  const n = new Uint32Array(spans.length);
  let s = 0;
  for (let k = 0; k < scored.offsets.length; k++) {
    const lp = scored.logprobs[k];
    let pos = scored.offsets[k]!;
    const next = k + 1 < scored.offsets.length ? scored.offsets[k + 1]! : text.length;
    while (pos < next && /\s/.test(text[pos]!)) pos++;
    if (pos >= next) pos = scored.offsets[k]!;
    const abs = base + pos;
    while (s < spans.length && spans[s]!.end <= abs) s++;
    if (s >= spans.length) break;
    if (lp == null || !Number.isFinite(lp) || abs < spans[s]!.start) continue;
    sum[s]! -= lp;
    n[s]!++;
  }
  return Array.from(sum, (v, i) => (n[i]! > 0 ? v / n[i]! : Number.NaN));
}
