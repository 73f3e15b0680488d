import { z } from 'zod';
import { ConnectorError, FailureType } from '../../shared/errors.ts';
import { findModel } from '../catalog.ts';
import { mapStatus, postJson, readRateHints } from '../http-core.ts';
import type { ChunkSpan, EmbedChunksOptions, LateChunkEmbedder } from './late-chunking.ts';

// Jina's hosted late chunking: `POST /v1/embeddings` with `late_chunking: true` concatenates the request's inputs,
// runs the model once over them and returns one vector per input, pooled over that input's tokens. So one request
// carries the chunks of one document, in order, and must fit the model's window. A longer document is sent as
// consecutive requests (macro windows at chunk granularity); each request also carries the chunks just before its
// own as context, whose vectors are dropped, so no chunk starts a window blind. We cannot count the model's tokens
// here, so requests are sized in UTF-8 bytes: 24 kB stays under 8k tokens even for CJK (3 bytes, ~1 token a char).
//
// Inputs are the text between chunk boundaries: a chunker's overlap would otherwise appear twice in the
// concatenation, so an overlapping chunk sends (and is pooled over) only its part after the previous chunk's end.

export const JinaLateConfig = z.object({
  apiKey: z.string().min(1),
  baseUrl: z.url().default('https://api.jina.ai/v1'),
  model: z.string().min(1).default('jina-embeddings-v3'),
  /** The passage task (v3/v4); null for models without tasks (v2). */
  task: z.string().min(1).nullable().default('retrieval.passage'),
  /** Server-side Matryoshka size; default the model's width. */
  dimensions: z.number().int().positive().optional(),
  /** Needed for models the catalog does not know (without `dimensions`). */
  dims: z.number().int().positive().optional(),
  /** UTF-8 bytes of one request's inputs, context included. */
  maxRequestBytes: z.number().int().min(64).default(24_000),
  /** UTF-8 bytes of preceding chunks sent as context before a request's own chunks. */
  contextBytes: z.number().int().min(0).default(4_000),
  timeoutMs: z.number().int().positive().default(120_000),
});
export type JinaLateConfig = z.input<typeof JinaLateConfig>;

interface Group {
  /** Indices into the pieces: context pieces first (vectors dropped), then the group's own. */
  context: number[];
  own: number[];
}

/** Consecutive groups of pieces under the byte budget, each with up to `contextBytes` of preceding pieces. */
export function planRequests(sizes: readonly number[], maxBytes: number, contextBytes: number): Group[] {
  const groups: Group[] = [];
  for (let i = 0; i < sizes.length;) {
    const own: number[] = [i];
    let bytes = sizes[i]!;
    for (let j = i + 1; j < sizes.length && bytes + sizes[j]! <= maxBytes; j++) {
      own.push(j);
      bytes += sizes[j]!;
    }
    const context: number[] = [];
    let ctx = 0;
    for (let k = i - 1; k >= 0 && ctx + sizes[k]! <= contextBytes && bytes + ctx + sizes[k]! <= maxBytes; k--) {
      context.unshift(k);
      ctx += sizes[k]!;
    }
    groups.push({ context, own });
    i = own[own.length - 1]! + 1;
  }
  return groups;
}

function badShape(what: string): ConnectorError {
  return new ConnectorError(FailureType.Unavailable, `jina answered an unexpected shape: ${what}`);
}

function parseVectors(body: unknown, count: number, dims: number): Float32Array[] {
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data) || data.length !== count) throw badShape(`wants data with ${count} embeddings`);
  const out = new Array<Float32Array>(count);
  for (const item of data as { index?: unknown; embedding?: unknown }[]) {
    const i = item?.index;
    const e = item?.embedding;
    if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= count || out[i as number]) throw badShape('bad index');
    if (!Array.isArray(e) || e.length !== dims || !e.every((x) => typeof x === 'number'))
      throw badShape(`embedding of ${dims} floats`);
    out[i as number] = Float32Array.from(e as number[]);
  }
  return out;
}

export function createJinaLateChunkEmbedder(config: JinaLateConfig): LateChunkEmbedder {
  const cfg = JinaLateConfig.parse(config);
  const entry = findModel(cfg.model);
  const dims = cfg.dimensions ?? cfg.dims ?? entry?.dims;
  if (!dims) throw new ConnectorError(FailureType.InvalidInput, `${cfg.model} is not in the model catalog: set dims`);
  const url = `${cfg.baseUrl.replace(/\/+$/, '')}/embeddings`;

  async function request(input: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const body = {
      model: cfg.model,
      input,
      late_chunking: true,
      ...(cfg.task ? { task: cfg.task } : {}),
      ...(cfg.dimensions ? { dimensions: cfg.dimensions } : {}),
      embedding_type: 'float',
      normalized: true,
    };
    const res = await postJson(url, body, {
      headers: { authorization: `Bearer ${cfg.apiKey}` },
      timeoutMs: cfg.timeoutMs,
      signal,
    });
    if (res.status !== 200) throw mapStatus('jina', res.status, res.body, readRateHints(res.headers)).error;
    return parseVectors(res.body, input.length, dims!);
  }

  return {
    identity: `late:v1:jina:${cfg.model}:${dims}:${cfg.task ?? 'notask'}:b${cfg.maxRequestBytes}:c${cfg.contextBytes}`,
    dims,
    metric: 'cosine',
    close: async () => {},
    async embedChunks(text: string, chunks: readonly ChunkSpan[], { onProgress, signal }: EmbedChunksOptions = {}) {
      let prevEnd = 0;
      const pieces = chunks.map((c, i) => {
        if (!Number.isInteger(c.start) || !Number.isInteger(c.end) || c.start < 0 || c.end > text.length || c.start >= c.end) {
          throw new ConnectorError(FailureType.InvalidInput, `chunk ${i} span [${c.start}, ${c.end}) is not inside the text`);
        }
        if (i > 0 && c.start < chunks[i - 1]!.start) {
          throw new ConnectorError(
            FailureType.InvalidInput,
            `chunk ${i} starts before chunk ${i - 1}: late chunking needs document order`,
          );
        }
        const own = text.slice(Math.max(c.start, prevEnd), c.end);
        prevEnd = Math.max(prevEnd, c.end);
        // A chunk wholly inside the previous one has no text of its own: send it whole.
        return own.trim() === '' ? text.slice(c.start, c.end) : own;
      });
      const sizes = pieces.map((p) => Buffer.byteLength(p, 'utf8'));
      const out: Float32Array[] = [];
      const groups = planRequests(sizes, cfg.maxRequestBytes, cfg.contextBytes);
      for (const [i, g] of groups.entries()) {
        const vecs = await request(
          [...g.context, ...g.own].map((k) => pieces[k]!),
          signal,
        );
        out.push(...vecs.slice(g.context.length));
        onProgress?.(i + 1, groups.length);
      }
      return out;
    },
  };
}
