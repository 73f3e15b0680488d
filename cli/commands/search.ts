import type { HybridFusion } from '../../connectors/sinks/sink.ts';
import { openSearcher, type SearchResult, type SearchResultHit } from '../../sdk/search.ts';
import type { CliContext } from '../context.ts';
import { printable } from '../printable.ts';

/**
 * `ingest search "<query>"`: embeds the query with the pipeline's model and asks one sink's live index version,
 * optionally hybrid (the database's keyword + vector fusion) and reranked (the spec's `search.reranker`).
 */
export async function searchCommand(
  ctx: CliContext,
  query: string,
  opts: {
    topK?: number;
    sink?: string;
    json?: boolean;
    hybrid?: boolean;
    alpha?: number;
    fusion?: HybridFusion;
    rerank?: boolean;
    candidates?: number;
  },
): Promise<SearchResult> {
  const searcher = await openSearcher(ctx.spec, { baseDir: ctx.baseDir });
  try {
    const result = await searcher.search(query, {
      topK: opts.topK ?? 5,
      ...(opts.sink ? { sink: opts.sink } : {}),
      ...(opts.hybrid ? { hybrid: true } : {}),
      ...(opts.alpha !== undefined ? { alpha: opts.alpha } : {}),
      ...(opts.fusion ? { fusion: opts.fusion } : {}),
      ...(opts.rerank ? { rerank: true } : {}),
      ...(opts.candidates !== undefined ? { candidates: opts.candidates } : {}),
    });
    if (opts.json) console.log(JSON.stringify(result));
    else printHits(result.hits);
    return result;
  } finally {
    await searcher.close();
  }
}

export function printHits(hits: SearchResultHit[]): void {
  if (hits.length === 0) console.log('no results');
  hits.forEach((h, i) => {
    const text = printable(h.text.replace(/\s+/g, ' ').trim());
    const scores =
      h.rerankScore !== undefined
        ? `${h.rerankScore.toFixed(3)} (rerank; retrieved #${h.retrievalRank} at ${h.retrievalScore.toFixed(3)})`
        : h.score.toFixed(3);
    console.log(`${i + 1}. ${scores}  ${printable(String(h.metadata.sourceUri))} [${h.metadata.start}..${h.metadata.end}]`);
    console.log(`   ${text.length > 240 ? `${text.slice(0, 237)}...` : text}`);
  });
}
