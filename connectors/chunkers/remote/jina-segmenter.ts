import { z } from 'zod';
import { mapStatus, postJson, readRateHints } from '../../embedders/http-core.ts';
import { ConnectorError, FailureType } from '../../shared/errors.ts';
import type { Chunk, Chunker, TokenCounter } from '../chunker.ts';

// Jina's Segmenter API as a Chunker: `POST https://segment.jina.ai/` with `{ content, return_chunks: true,
// max_chunk_length, tokenizer? }` answers `{ num_tokens, tokenizer, usage, num_chunks, chunk_positions, chunks }`.
// Its chunks are trusted as text, never as positions: each is located in our own text, searching from the previous
// chunk's end (exactly first, then with any run of whitespace matching any other), so every Chunk keeps the
// contract `text === document.slice(start, end)` even where the service normalises whitespace.
//
// Streaming: the document is sent in pieces of at most `maxRequestChars`, cut at the last paragraph break (else line
// break, else space) before the limit, so memory stays bounded and no request exceeds the service's size limit.

export const SEGMENTER_TOKENIZERS = ['cl100k_base', 'o200k_base', 'p50k_base', 'r50k_base', 'p50k_edit', 'gpt2'] as const;

export const JinaSegmenterConfig = z.object({
  url: z.url().default('https://segment.jina.ai/'),
  /** Optional: a key raises the rate limit (segmenting is not billed). */
  apiKey: z.string().min(1).optional(),
  /** The service's cap on a chunk's length, in characters. */
  maxChunkLength: z.number().int().min(50).max(100_000).default(1000),
  /** The tokenizer the service counts with; its default when absent. */
  tokenizer: z.enum(SEGMENTER_TOKENIZERS).optional(),
  /** UTF-16 units of text per request. */
  maxRequestChars: z.number().int().min(1000).default(60_000),
  timeoutMs: z.number().int().positive().default(60_000),
});
export type JinaSegmenterConfig = z.input<typeof JinaSegmenterConfig>;

const REASON = { Unlocatable: 'Unlocatable', BadShape: 'BadShape' } as const;

/** The service answered something we cannot turn into exact spans: retrying the same text will not help. */
export class SegmenterResponseError extends ConnectorError {
  override name = 'SegmenterResponseError';
  readonly reason: (typeof REASON)[keyof typeof REASON];
  constructor(reason: (typeof REASON)[keyof typeof REASON], message: string) {
    super(reason === REASON.BadShape ? FailureType.Unavailable : FailureType.InvalidInput, message);
    this.reason = reason;
  }
}

function parseChunks(body: unknown): string[] {
  const chunks = (body as { chunks?: unknown })?.chunks;
  if (!Array.isArray(chunks) || !chunks.every((c) => typeof c === 'string')) {
    throw new SegmenterResponseError(REASON.BadShape, 'segmenter answer has no `chunks` array of strings');
  }
  return chunks as string[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Finds `chunk` in `text` at or after `from`: exactly, else with whitespace runs matching any whitespace (and the
 * chunk's own leading or trailing whitespace optional). Returns the exact span in `text`, or undefined.
 */
export function locate(text: string, chunk: string, from: number): { start: number; end: number } | undefined {
  const at = text.indexOf(chunk, from);
  if (at >= 0 && chunk.length > 0) return { start: at, end: at + chunk.length };
  const words = chunk.split(/\s+/u).filter((w) => w.length > 0);
  if (words.length === 0) return undefined;
  const re = new RegExp(words.map(escape).join('\\s+'), 'gu');
  re.lastIndex = from;
  const m = re.exec(text);
  return m ? { start: m.index, end: m.index + m[0].length } : undefined;
}

/** Where to cut a buffer of more than `limit` units: after the last paragraph break, line break or space before it. */
function cutPoint(buf: string, limit: number): number {
  for (const sep of ['\n\n', '\n', ' ']) {
    const at = buf.lastIndexOf(sep, limit - sep.length);
    if (at > limit / 4) return at + sep.length;
  }
  // One huge run without spaces: cut at the limit, between surrogates never.
  const c = buf.charCodeAt(limit - 1);
  return c >= 0xd800 && c <= 0xdbff ? limit - 1 : limit;
}

export function createJinaSegmenterChunker(config: JinaSegmenterConfig, counter: TokenCounter): Chunker {
  const cfg = JinaSegmenterConfig.parse(config);
  const headers: Record<string, string> = cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : {};

  async function segment(content: string): Promise<string[]> {
    const body = {
      content,
      return_chunks: true,
      return_tokens: false,
      max_chunk_length: cfg.maxChunkLength,
      ...(cfg.tokenizer ? { tokenizer: cfg.tokenizer } : {}),
    };
    const res = await postJson(cfg.url, body, { headers, timeoutMs: cfg.timeoutMs });
    if (res.status !== 200) throw mapStatus('jina-segmenter', res.status, res.body, readRateHints(res.headers)).error;
    return parseChunks(res.body);
  }

  return {
    spec: `jina-segmenter:v1:max=${cfg.maxChunkLength}:tok=${cfg.tokenizer ?? 'default'}:req=${cfg.maxRequestChars}:count=${counter.name}`,
    async *chunk(text: AsyncIterable<string>): AsyncIterable<Chunk> {
      let buf = '';
      let bufStart = 0;
      let index = 0;
      async function* flush(piece: string, base: number): AsyncGenerator<Chunk> {
        if (piece.trim() === '') return;
        let cursor = 0;
        for (const c of await segment(piece)) {
          if (c.trim() === '') continue;
          const span = locate(piece, c, cursor);
          if (!span) {
            throw new SegmenterResponseError(
              REASON.Unlocatable,
              `segmenter chunk ${JSON.stringify(c.slice(0, 60))} is not in the text after offset ${base + cursor}`,
            );
          }
          cursor = span.end;
          const t = piece.slice(span.start, span.end);
          yield { index: index++, start: base + span.start, end: base + span.end, text: t, tokens: counter.count(t) };
        }
      }
      for await (const part of text) {
        buf += part;
        while (buf.length > cfg.maxRequestChars) {
          const cut = cutPoint(buf, cfg.maxRequestChars);
          yield* flush(buf.slice(0, cut), bufStart);
          buf = buf.slice(cut);
          bufStart += cut;
        }
      }
      yield* flush(buf, bufStart);
    },
  };
}
