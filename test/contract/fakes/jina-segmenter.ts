import { type FakeServer, startJsonServer } from './late-http.ts';

// A stand-in for Jina's Segmenter API (`POST https://segment.jina.ai/`, jina.ai/segmenter). Request:
// `{ content, return_chunks?, return_tokens?, max_chunk_length? (default 1000), tokenizer?, head?, tail? }`; response
// (not wrapped in `data`): `{ num_tokens, tokenizer, usage: { tokens }, num_chunks, chunk_positions, chunks }`.
// Chunks break at paragraphs, then lines, then sentence ends, then spaces, and never exceed max_chunk_length.
// `normalizeWhitespace` makes it return chunks with whitespace runs collapsed and trimmed, as the service may, so
// clients must not trust positions; `maxContentChars` rejects big bodies with 413.

const TOKENIZERS = ['cl100k_base', 'o200k_base', 'p50k_base', 'r50k_base', 'p50k_edit', 'gpt2'];

export interface FakeSegmenterOptions {
  normalizeWhitespace?: boolean;
  maxContentChars?: number;
  /** Requires this bearer key when set. */
  apiKey?: string;
}

/** Splits `text` into spans of at most `max` UTF-16 units, preferring the strongest break before the limit. */
function split(text: string, max: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + max);
    if (end < text.length) {
      const window = text.slice(start, end);
      for (const sep of ['\n\n', '\n', '. ', ' ']) {
        const at = window.lastIndexOf(sep);
        if (at > 0) {
          end = start + at + sep.length;
          break;
        }
      }
    }
    out.push([start, end]);
    start = end;
  }
  return out;
}

export async function startFakeSegmenter(opts: FakeSegmenterOptions = {}): Promise<FakeServer> {
  const detail = (status: number, msg: string) => ({ status, body: { detail: msg } });
  return startJsonServer(async (req) => {
    if (req.method !== 'POST' || req.path !== '/') return detail(404, 'Not Found');
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) return detail(401, 'Unauthorized');
    const b = req.body as Record<string, unknown> | undefined;
    if (typeof b?.content !== 'string') return detail(422, 'content: field required');
    const content = b.content;
    if (opts.maxContentChars && content.length > opts.maxContentChars) return detail(413, 'content too large');
    const max = b.max_chunk_length ?? 1000;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) return detail(422, 'max_chunk_length: integer');
    const tokenizer = b.tokenizer ?? 'cl100k_base';
    if (!TOKENIZERS.includes(tokenizer as string)) return detail(422, `tokenizer: unknown ${String(tokenizer)}`);
    // A rough token count (words and punctuation); the client never relies on it.
    const numTokens = (content.match(/\w+|[^\w\s]/gu) ?? []).length;
    const body: Record<string, unknown> = { num_tokens: numTokens, tokenizer, usage: { tokens: numTokens } };
    if (b.return_chunks === true) {
      const spans = split(content, max);
      body.num_chunks = spans.length;
      body.chunk_positions = spans;
      body.chunks = spans.map(([s, e]) => {
        const c = content.slice(s, e);
        return opts.normalizeWhitespace ? c.replace(/\s+/gu, ' ').trim() : c;
      });
    }
    return { status: 200, body };
  });
}
