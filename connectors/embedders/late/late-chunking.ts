import { ConnectorError, FailureType } from '../../shared/errors.ts';

// Late chunking (Günther et al., Jina AI, 2024): run the encoder once over the whole document, with the model's
// passage instruction, then mean-pool the token embeddings inside each chunk's span and normalise. Every chunk vector
// then carries the document's context ("it" in paragraph five knows what "it" is).
//
// Documents longer than the model's window go through overlapping macro windows, as in Jina's reference code: the
// windows overlap by `overlapTokens`, and the first `overlapTokens` outputs of every window but the first are dropped,
// so each token's embedding comes from exactly one window, the one that saw the most text before it. Special tokens
// ([CLS] ... [SEP]) wrap every window, so each pass looks like an ordinary input to the model. Pooling accumulates
// window by window, so a chunk spanning a window edge simply gathers tokens from two windows, and memory stays at one
// batch of windows, never the whole document's token matrix.

/** A chunk's place in the document: UTF-16 indices, `text.slice(start, end)`. */
export interface ChunkSpan {
  start: number;
  end: number;
}

/** The document as the model's tokenizer sees it. */
export interface TokenizedText {
  ids: number[];
  /** UTF-16 `[start, end)` of each token in the tokenized string; null where a token covers no text. */
  spans: ([number, number] | null)[];
  /** 1 for the tokenizer's special tokens ([CLS], [SEP], <s>...), 0 otherwise. */
  special: number[];
}

/** A model that returns one embedding per input token (the encoder's last hidden state). */
export interface TokenEmbeddingSource {
  /** Identity of the ordinary embedder of the same model and prompts (its query side embeds the searches). */
  readonly identity: string;
  readonly dims: number;
  /** Tokens one forward pass takes, special tokens included. */
  readonly windowTokens: number;
  /** The passage instruction put before the document, as the ordinary embedder puts it before each text. */
  readonly documentPrefix: string;
  /** Tokenizes with special tokens and without truncation. */
  tokenize(text: string, signal?: AbortSignal): Promise<TokenizedText>;
  /** Token embeddings (`ids.length × dims`, row-major) of each sequence, taken as given: no special tokens added. */
  embedTokens(seqs: number[][], signal?: AbortSignal): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** Embeds the chunks of one document in the document's context. */
export interface LateChunkEmbedder {
  /** Enters the embedding cache key: a late-chunked vector depends on the whole document, not the chunk text alone. */
  readonly identity: string;
  readonly dims: number;
  readonly metric: 'cosine';
  /**
   * One normalised vector per chunk, in the order given. `onProgress` is called after each forward pass (or request),
   * so a long document's activity can heartbeat.
   */
  embedChunks(text: string, chunks: readonly ChunkSpan[], opts?: EmbedChunksOptions): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export interface EmbedChunksOptions {
  onProgress?: (done: number, total: number) => void;
  /** Abandons the requests still in flight (EmbedCallOptions.signal): the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface LateChunkingOptions {
  /** Tokens shared by consecutive macro windows; default a quarter of the window. */
  overlapTokens?: number;
  /** Windows per embedTokens call; default 8. */
  windowsPerCall?: number;
}

/** One forward pass: the body tokens `[start, end)` of the document, wrapped in the special tokens. */
export interface MacroWindow {
  start: number;
  end: number;
  /** Body outputs before this token index are dropped (they belong to the previous window). */
  keepFrom: number;
}

/**
 * Windows over the body tokens `[lead, n - trail)` with `body` tokens each, overlapping by `overlap`, as Jina's
 * `_embed_with_overlap`: step `body - overlap`, the last window ends at the body's end.
 */
export function planWindows(n: number, lead: number, trail: number, body: number, overlap: number): MacroWindow[] {
  if (body < 1 || overlap < 0 || overlap >= body) throw new RangeError(`bad window: body ${body}, overlap ${overlap}`);
  const first = lead;
  const last = n - trail;
  if (last <= first) return [{ start: first, end: first, keepFrom: first }];
  const out: MacroWindow[] = [];
  for (let s = first; ; s += body - overlap) {
    const e = Math.min(s + body, last);
    out.push({ start: s, end: e, keepFrom: s === first ? s : s + overlap });
    if (e === last) return out;
  }
}

/**
 * Each chunk's token range `[from, to)`. A token belongs to a chunk when their character spans overlap. Tokens that
 * cover no text and sit before the first text token (the [CLS] token, the passage instruction) join the chunk that
 * starts at the document's first token, and those after the last text token ([SEP]) the chunk that ends at the last
 * one: with a single chunk that is exactly the model's ordinary mean pooling. A chunk no token overlaps (only
 * characters the tokenizer drops) takes the next token, so every chunk gets a vector.
 */
export function chunkTokenRanges(
  spans: readonly ([number, number] | null)[],
  textStart: number,
  textEnd: number,
  chunks: readonly ChunkSpan[],
): { from: number; to: number }[] {
  const n = spans.length;
  // Text tokens and running maxima of their ends (tokenizers emit spans in order; the maximum makes searches safe).
  const idx: number[] = [];
  const starts: number[] = [];
  const maxEnds: number[] = [];
  let maxEnd = -Infinity;
  for (let t = 0; t < n; t++) {
    const s = spans[t];
    if (!s || s[1] <= s[0] || s[1] <= textStart || s[0] >= textEnd) continue;
    idx.push(t);
    starts.push(s[0] - textStart);
    maxEnd = Math.max(maxEnd, s[1] - textStart);
    maxEnds.push(maxEnd);
  }
  const firstText = idx[0] ?? n;
  const lastText = idx.length > 0 ? idx[idx.length - 1]! : -1;
  // First k with pred(k) true, for a predicate that is monotone over k.
  const search = (pred: (k: number) => boolean): number => {
    let lo = 0;
    let hi = idx.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pred(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  return chunks.map(({ start, end }) => {
    const a = search((k) => maxEnds[k]! > start);
    const b = search((k) => starts[k]! >= end);
    if (a >= idx.length) return { from: n - 1, to: n };
    let from = idx[a]!;
    let to = b > a ? idx[b - 1]! + 1 : from + 1;
    if (from === firstText) from = 0;
    if (to === lastText + 1) to = n;
    return { from, to };
  });
}

/** Sums token rows into per-chunk accumulators as window outputs arrive. */
class ChunkPooler {
  readonly #ranges: { from: number; to: number }[];
  readonly #dims: number;
  readonly #sums: Float64Array[];
  readonly #counts: number[];

  constructor(ranges: { from: number; to: number }[], dims: number) {
    this.#ranges = ranges;
    this.#dims = dims;
    this.#sums = ranges.map(() => new Float64Array(dims));
    this.#counts = ranges.map(() => 0);
  }

  /** Adds `rows` (row-major) standing for document tokens `[token, token + count)`, starting at row `row`. */
  add(rows: Float32Array, row: number, token: number, count: number): void {
    const d = this.#dims;
    const end = token + count;
    for (let c = 0; c < this.#ranges.length; c++) {
      const r = this.#ranges[c]!;
      const lo = Math.max(r.from, token);
      const hi = Math.min(r.to, end);
      if (lo >= hi) continue;
      const sum = this.#sums[c]!;
      for (let t = lo; t < hi; t++) {
        const base = (row + t - token) * d;
        for (let k = 0; k < d; k++) sum[k]! += rows[base + k]!;
      }
      this.#counts[c]! += hi - lo;
    }
  }

  finish(): Float32Array[] {
    return this.#sums.map((sum, c) => {
      const n = this.#counts[c]!;
      let sq = 0;
      for (let k = 0; k < sum.length; k++) {
        sum[k]! /= n || 1;
        sq += sum[k]! * sum[k]!;
      }
      const scale = sq > 0 ? 1 / Math.sqrt(sq) : 1;
      const v = new Float32Array(sum.length);
      for (let k = 0; k < sum.length; k++) v[k] = sum[k]! * scale;
      return v;
    });
  }
}

function checkChunks(text: string, chunks: readonly ChunkSpan[]): void {
  for (const [i, c] of chunks.entries()) {
    if (!Number.isInteger(c.start) || !Number.isInteger(c.end) || c.start < 0 || c.end > text.length || c.start >= c.end) {
      throw new ConnectorError(
        FailureType.InvalidInput,
        `chunk ${i} span [${c.start}, ${c.end}) is not inside the ${text.length}-char text`,
      );
    }
  }
}

/** Leading and trailing runs of special tokens: they wrap every macro window. */
function specialRuns(tok: TokenizedText): { lead: number; trail: number } {
  const n = tok.ids.length;
  let lead = 0;
  while (lead < n && tok.special[lead] === 1) lead++;
  let trail = 0;
  while (trail < n - lead && tok.special[n - 1 - trail] === 1) trail++;
  return { lead, trail };
}

/** Late chunking over any source of token embeddings (local onnxruntime, a TEI server). */
export function createLateChunkEmbedder(source: TokenEmbeddingSource, opts: LateChunkingOptions = {}): LateChunkEmbedder {
  const overlap = opts.overlapTokens ?? Math.floor(source.windowTokens / 4);
  const perCall = opts.windowsPerCall ?? 8;
  if (!Number.isInteger(perCall) || perCall < 1) throw new RangeError('windowsPerCall must be a positive integer');
  return {
    identity: `late:v1:o${overlap}:w${source.windowTokens}:${source.identity}`,
    dims: source.dims,
    metric: 'cosine',
    close: () => source.close(),
    async embedChunks(text, chunks, { onProgress, signal } = {}) {
      if (typeof text !== 'string') throw new ConnectorError(FailureType.InvalidInput, 'text to embed must be a string');
      checkChunks(text, chunks);
      if (chunks.length === 0) return [];
      const prefix = source.documentPrefix;
      const tok = await source.tokenize(prefix + text, signal);
      const n = tok.ids.length;
      const ranges = chunkTokenRanges(tok.spans, prefix.length, prefix.length + text.length, chunks);
      const pooler = new ChunkPooler(ranges, source.dims);
      const { lead, trail } = specialRuns(tok);
      const body = source.windowTokens - lead - trail;
      if (body < 2 || overlap >= body) {
        throw new ConnectorError(FailureType.InvalidInput, `window ${source.windowTokens} leaves no room for overlap ${overlap}`);
      }
      const windows = n <= source.windowTokens ? null : planWindows(n, lead, trail, body, overlap);
      if (!windows) {
        const [rows] = await source.embedTokens([tok.ids], signal);
        pooler.add(expectRows(rows, n, source.dims), 0, 0, n);
        onProgress?.(1, 1);
        return pooler.finish();
      }
      const head = tok.ids.slice(0, lead);
      const tail = tok.ids.slice(n - trail);
      for (let w = 0; w < windows.length; w += perCall) {
        const group = windows.slice(w, w + perCall);
        const outs = await source.embedTokens(
          group.map((win) => [...head, ...tok.ids.slice(win.start, win.end), ...tail]),
          signal,
        );
        group.forEach((win, j) => {
          const len = lead + (win.end - win.start) + trail;
          const rows = expectRows(outs[j], len, source.dims);
          if (w + j === 0) pooler.add(rows, 0, 0, lead);
          pooler.add(rows, lead + win.keepFrom - win.start, win.keepFrom, win.end - win.keepFrom);
          if (w + j === windows.length - 1) pooler.add(rows, len - trail, n - trail, trail);
        });
        onProgress?.(Math.min(w + perCall, windows.length), windows.length);
      }
      return pooler.finish();
    },
  };
}

function expectRows(rows: Float32Array | undefined, tokens: number, dims: number): Float32Array {
  if (!rows || rows.length !== tokens * dims) {
    throw new ConnectorError(
      FailureType.Unavailable,
      `token embeddings: expected ${tokens} × ${dims} values, got ${rows?.length ?? 'none'}`,
    );
  }
  return rows;
}
