import type { Chunk, Chunker } from '../connectors/chunkers/chunker.ts';
import { createRecursiveChunker } from '../connectors/chunkers/recursive.ts';
import type { LateChunkEmbedder } from '../connectors/embedders/late/late-chunking.ts';
import { createLocalLateChunkEmbedder } from '../connectors/embedders/late/local.ts';
import type { LocalOnnxEmbedder } from '../connectors/embedders/local-onnx.ts';
import { createPerplexityChunker } from '../connectors/chunkers/meta/perplexity.ts';
import { createPromptScorer } from '../connectors/chunkers/meta/scorer.ts';
import { ensureLocalLlm } from '../scripts/fetch-llm.ts';

// The chunking strategies the harness compares. Each turns one document into chunk vectors in the query embedder's
// space. To add one, add an entry to STRATEGIES that builds its Chunker and hands it to `independent` (chunks embedded
// one by one) or `late` (chunks pooled from one pass). `meta` runs a language model on the CPU: slow (tens of tokens
// per second), so it is not in the default list.

export interface StrategyContext {
  modelDir: string;
  /** The local model: it embeds the queries, and the chunks of the naive strategies. */
  embedder: LocalOnnxEmbedder;
  chunkSize: number;
  chunkOverlap: number;
}

export interface EmbeddedChunks {
  texts: string[];
  vectors: Float32Array[];
}

export interface Strategy {
  /** The chunker's spec, for the record. */
  spec: string;
  /** The chunks of one document and their vectors (normalised), in the same order. */
  embedDocument(text: string): Promise<EmbeddedChunks>;
  close(): Promise<void>;
}

async function chunksOf(chunker: Chunker, text: string): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of chunker.chunk(
    (async function* () {
      yield text;
    })(),
  ))
    out.push(c);
  return out;
}

/** Chunks embedded independently, each without its document: the baseline. */
export function independent(chunker: Chunker, embedder: LocalOnnxEmbedder): Strategy {
  return {
    spec: chunker.spec,
    async embedDocument(text) {
      const texts = (await chunksOf(chunker, text)).map((c) => c.text);
      return { texts, vectors: texts.length ? await embedder.embedDocuments(texts) : [] };
    },
    close: async () => {},
  };
}

/** The same boundaries, late-chunked: one pass over the document (macro windows when long), pooled per chunk. */
export function late(chunker: Chunker, lateEmbedder: LateChunkEmbedder): Strategy {
  return {
    spec: `${chunker.spec}+${lateEmbedder.identity}`,
    async embedDocument(text) {
      const chunks = await chunksOf(chunker, text);
      return { texts: chunks.map((c) => c.text), vectors: await lateEmbedder.embedChunks(text, chunks) };
    },
    close: () => lateEmbedder.close(),
  };
}

const recursive = (ctx: StrategyContext) =>
  createRecursiveChunker({ chunkSize: ctx.chunkSize, chunkOverlap: ctx.chunkOverlap }, ctx.embedder.tokenCounter);

/** Meta-Chunking (perplexity) with SmolLM2-135M on the CPU: boundaries from the language model, chunks embedded alone. */
async function meta(ctx: StrategyContext): Promise<Strategy> {
  // The harness installs what it evaluates (workers never do): the GGUF and node-llama-cpp, once, into the cache.
  const scorer = await createPromptScorer({ kind: 'local', ...(await ensureLocalLlm()) });
  const chunker = createPerplexityChunker(
    { targetTokens: ctx.chunkSize, maxTokens: Math.max(ctx.chunkSize, 8) * 2 },
    scorer,
    ctx.embedder.tokenCounter,
  );
  const base = independent(chunker, ctx.embedder);
  return { ...base, close: () => scorer.close() };
}

export const STRATEGIES: Record<string, (ctx: StrategyContext) => Promise<Strategy>> = {
  naive: async (ctx) => independent(recursive(ctx), ctx.embedder),
  late: async (ctx) => late(recursive(ctx), await createLocalLateChunkEmbedder({ modelDir: ctx.modelDir })),
  meta,
};
