import { resolve } from 'node:path';
import { createReranker } from '../connectors/rerankers/index.ts';
import { rerankHits, type Reranker } from '../connectors/rerankers/reranker.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import type { HybridFusion, SearchHit, Sink } from '../connectors/sinks/sink.ts';
import { indexAlias, indexName, type PipelineSpec } from '../pipeline/spec.ts';
import { createSinks, embedderFor } from '../workers/build-deps.ts';

// Querying a pipeline's live index: the query embedded with the pipeline's own model, one sink asked through the
// blue/green alias, optionally hybrid (the database's own keyword + vector fusion), optionally reranked. `ingest
// search` is a thin shell over this; applications use it directly:
//
//   const searcher = await openSearcher(spec, { baseDir });
//   const hits = await searcher.search('how do tides work', { topK: 5, hybrid: true, rerank: true });
//   await searcher.close();

export interface SearchOptions {
  /** Hits returned. Default 5. */
  topK?: number;
  /** The sink to ask (by name). Default: the spec's first. */
  sink?: string;
  /** Keyword + vector search fused by the database. A sink without a keyword index refuses it (InvalidInput). */
  hybrid?: boolean;
  /** Hybrid: weight of the vector half in [0, 1]. Default: the spec's `search.hybrid.alpha`, else 0.5. */
  alpha?: number;
  /** Hybrid: how the halves are fused. Default: the spec's `search.hybrid.fusion`, else rrf. */
  fusion?: HybridFusion;
  /** Rerank the sink's top `candidates` with the spec's `search.reranker`, keeping `topK`. */
  rerank?: boolean;
  /** Hits asked of the sink for reranking (k). Default: the spec's `search.candidates`, else 50. */
  candidates?: number;
  signal?: AbortSignal;
}

export interface SearchResultHit extends SearchHit {
  /** Rank in the sink's answer (1 = best), before any reranking. */
  retrievalRank: number;
  /** The sink's score: cosine-like similarity, or the database's fused score for hybrid. */
  retrievalScore: number;
  /** The reranker's score, when reranked (then also `score`). */
  rerankScore?: number;
}

export interface SearchResult {
  query: string;
  sink: string;
  index: string;
  mode: 'vector' | 'hybrid';
  reranker?: string;
  hits: SearchResultHit[];
}

export interface Searcher {
  search(query: string, opts?: SearchOptions): Promise<SearchResult>;
  close(): Promise<void>;
}

const invalid = (message: string) => new ConnectorError(FailureType.InvalidInput, message);

/** Opens the embedder, the sinks and (lazily) the reranker of a spec for searching. */
export async function openSearcher(
  spec: PipelineSpec,
  opts: { baseDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Searcher> {
  const baseDir = opts.baseDir ?? process.cwd();
  const env = opts.env ?? process.env;
  const { embedder } = await embedderFor(spec, ['embed'], (p) => resolve(baseDir, p), env);
  if (!embedder) throw new Error('the pipeline has no embedder');
  let sinks: Map<string, Sink>;
  try {
    sinks = await createSinks(spec, { baseDir, env });
  } catch (err) {
    await embedder.close();
    throw err;
  }
  let reranker: Promise<Reranker> | undefined;
  const cfg = spec.search;

  async function search(query: string, o: SearchOptions = {}): Promise<SearchResult> {
    if (typeof query !== 'string' || query.trim() === '') throw invalid('search: the query is empty');
    const topK = o.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1 || topK > 1000) throw invalid('search: topK must be an integer from 1 to 1000');
    const name = o.sink ?? spec.sinks[0]!.name;
    const sink = sinks.get(name);
    if (!sink) throw invalid(`search: the pipeline has no sink named ${name} (it has ${[...sinks.keys()].join(', ')})`);
    if (o.hybrid && !sink.hybridSearch) {
      throw invalid(
        `search: sink ${name} (${sink.kind}) cannot do hybrid search: the database keeps no keyword index of the chunk ` +
          `text here (hybrid works on weaviate and milvus sinks, and on pinecone sinks with sparse: { kind: bm25 }); search it without hybrid`,
      );
    }
    if (o.rerank && !cfg?.reranker) {
      throw invalid('search: reranking needs a reranker in the spec (search.reranker: provider and model)');
    }
    const candidates = o.rerank ? Math.max(o.candidates ?? cfg?.candidates ?? 50, topK) : topK;
    if (!Number.isInteger(candidates) || candidates > 1000) throw invalid('search: candidates must be an integer up to 1000');
    const vector = await embedder!.embedQuery(query);
    // Readers go through the alias (blue/green); before a pipeline's first write there is none, and nothing to find.
    const index = (await sink.getAlias(indexAlias(spec))) ?? indexName(spec);
    const hybrid = o.hybrid
      ? {
          text: query,
          vector,
          alpha: o.alpha ?? cfg?.hybrid.alpha ?? 0.5,
          fusion: o.fusion ?? cfg?.hybrid.fusion ?? 'rrf',
        }
      : undefined;
    const found = hybrid
      ? await sink.hybridSearch!(index, hybrid, { topK: candidates, tenant: spec.tenant })
      : await sink.search(index, vector, { topK: candidates, tenant: spec.tenant });
    const ranked: SearchResultHit[] = found.map((h, i) => ({ ...h, retrievalRank: i + 1, retrievalScore: h.score }));
    const result: SearchResult = { query, sink: name, index, mode: hybrid ? 'hybrid' : 'vector', hits: ranked };
    if (!o.rerank) {
      result.hits = ranked.slice(0, topK);
      return result;
    }
    reranker ??= createReranker(cfg!.reranker!, { env, baseDir });
    const r = await reranker;
    const reranked = await rerankHits(r, query, ranked, { topN: topK, ...(o.signal ? { signal: o.signal } : {}) });
    result.reranker = r.identity;
    const byId = new Map(ranked.map((h) => [h.id, h]));
    result.hits = reranked.map((h) => ({ ...byId.get(h.id)!, score: h.rerankScore, rerankScore: h.rerankScore }));
    return result;
  }

  return {
    search,
    async close() {
      await embedder.close();
      await Promise.all([...sinks.values()].map((s) => s.close()));
      if (reranker) await (await reranker.catch(() => undefined))?.close();
    },
  };
}
