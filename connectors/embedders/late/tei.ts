import { z } from 'zod';
import { ConnectorError, FailureType } from '../../shared/errors.ts';
import { findModel, promptParts } from '../catalog.ts';
import { mapStatus, postJson } from '../http-core.ts';
import {
  createLateChunkEmbedder,
  type LateChunkEmbedder,
  type TokenEmbeddingSource,
  type TokenizedText,
} from './late-chunking.ts';
import { OffsetError, OffsetUnit, spansToUtf16 } from './offsets.ts';

// Token embeddings from a Text Embeddings Inference server (or our TEI-compatible GPU server):
// - `POST /tokenize {inputs, add_special_tokens: true}` answers `[[{id, text, special, start, stop}]]`, offsets in
//   UTF-8 bytes of the input (Rust strings), null for special tokens;
// - `POST /embed_all {inputs: [[ids...]], truncate: false}` takes token ids as they are (no special tokens added) and
//   answers `[[[f32 × dims] per token] per input]`, the model's last hidden state.
// Feeding ids rather than text is what lets macro windows cut the document exactly where the plan says.

export const TeiLateConfig = z.object({
  /** The server root, e.g. `http://gpu-1:8080`. */
  baseUrl: z.url(),
  apiKey: z.string().min(1).optional(),
  /** The served model: a catalog id or Hugging Face id names its prefix, window and width. */
  model: z.string().min(1),
  /** Needed for models the catalog does not know. */
  dims: z.number().int().positive().optional(),
  documentPrefix: z.string().optional(),
  /** Tokens per forward pass, at most the server's max_input_length; default the catalog's window, else 512. */
  windowTokens: z.number().int().min(8).optional(),
  overlapTokens: z.number().int().min(0).optional(),
  /** Windows per /embed_all request (the server's --max-client-batch-size bounds it). */
  windowsPerRequest: z.number().int().min(1).default(8),
  timeoutMs: z.number().int().positive().default(120_000),
});
export type TeiLateConfig = z.input<typeof TeiLateConfig>;

interface TeiToken {
  id: number;
  special: boolean;
  start: number | null;
  stop: number | null;
}

function badShape(what: string): ConnectorError {
  return new ConnectorError(FailureType.Unavailable, `tei answered an unexpected shape: ${what}`);
}

function parseTokens(body: unknown): TeiToken[] {
  if (!Array.isArray(body) || body.length !== 1 || !Array.isArray(body[0])) throw badShape('/tokenize wants [[token...]]');
  return (body[0] as unknown[]).map((t) => {
    const tok = t as Partial<TeiToken>;
    const okOffset = (v: unknown) => v === null || v === undefined || (Number.isInteger(v) && (v as number) >= 0);
    if (!Number.isInteger(tok.id) || typeof tok.special !== 'boolean' || !okOffset(tok.start) || !okOffset(tok.stop)) {
      throw badShape(`/tokenize token ${JSON.stringify(t).slice(0, 80)}`);
    }
    return { id: tok.id!, special: tok.special, start: tok.start ?? null, stop: tok.stop ?? null };
  });
}

export function createTeiTokenSource(config: TeiLateConfig): TokenEmbeddingSource {
  const cfg = TeiLateConfig.parse(config);
  const entry = findModel(cfg.model);
  const dims = cfg.dims ?? entry?.dims;
  if (!dims) throw new ConnectorError(FailureType.InvalidInput, `${cfg.model} is not in the model catalog: set dims`);
  if (entry && entry.pooling !== 'mean') {
    throw new ConnectorError(
      FailureType.InvalidInput,
      `late chunking needs a mean-pooled model; ${entry.id} pools ${entry.pooling}`,
    );
  }
  const documentPrefix = cfg.documentPrefix ?? (entry ? promptParts(entry, 'document', '').prefix : '');
  const root = cfg.baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : {};

  async function post(path: string, body: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    const res = await postJson(`${root}${path}`, body, { headers, timeoutMs: cfg.timeoutMs, signal });
    if (res.status !== 200) throw mapStatus(`tei ${path}`, res.status, res.body, {}).error;
    return res.body;
  }

  return {
    // The same shape as the TEI embedder's identity, so the queries it embeds are known to share the space.
    identity: `tei:${cfg.model}:${dims}:n:p1`,
    dims,
    windowTokens: cfg.windowTokens ?? Math.min(entry?.maxTokens ?? 512, 512),
    documentPrefix,
    async tokenize(text, signal): Promise<TokenizedText> {
      const tokens = parseTokens(await post('/tokenize', { inputs: text, add_special_tokens: true }, signal));
      let spans: ([number, number] | null)[];
      try {
        spans = spansToUtf16(
          text,
          tokens.map((t) => (t.special || t.start === null || t.stop === null ? null : [t.start, t.stop])),
          OffsetUnit.Utf8Bytes,
        );
      } catch (err) {
        if (err instanceof OffsetError) throw badShape(`/tokenize offsets: ${err.message}`);
        throw err;
      }
      return { ids: tokens.map((t) => t.id), spans, special: tokens.map((t) => (t.special ? 1 : 0)) };
    },
    async embedTokens(seqs, signal) {
      const out: Float32Array[] = [];
      for (let i = 0; i < seqs.length; i += cfg.windowsPerRequest) {
        const group = seqs.slice(i, i + cfg.windowsPerRequest);
        const body = await post('/embed_all', { inputs: group, truncate: false }, signal);
        if (!Array.isArray(body) || body.length !== group.length)
          throw badShape(`/embed_all wants ${group.length} token matrices`);
        body.forEach((rows: unknown, j) => {
          const len = group[j]!.length;
          if (!Array.isArray(rows) || rows.length !== len) throw badShape(`/embed_all input ${j}: wants ${len} token rows`);
          const flat = new Float32Array(len * dims);
          rows.forEach((row: unknown, t) => {
            if (!Array.isArray(row) || row.length !== dims) throw badShape(`/embed_all row of ${dims} numbers`);
            flat.set(row as number[], t * dims);
          });
          out.push(flat);
        });
      }
      return out;
    },
    close: async () => {},
  };
}

/** Late chunking on a TEI server. */
export function createTeiLateChunkEmbedder(config: TeiLateConfig): LateChunkEmbedder {
  const overlap = config.overlapTokens;
  return createLateChunkEmbedder(createTeiTokenSource(config), overlap === undefined ? {} : { overlapTokens: overlap });
}
