import { resolve } from 'node:path';
import type { SearchHit } from '../../connectors/sinks/sink.ts';
import { indexAlias, indexName } from '../../pipeline/spec.ts';
import { createSinks, embedderFor } from '../../workers/build-deps.ts';
import type { CliContext } from '../context.ts';
import { printable } from '../printable.ts';

/** `ingest search "<query>"`: embeds the query with the pipeline's model and asks one sink's live index version. */
export async function searchCommand(
  ctx: CliContext,
  query: string,
  opts: { topK?: number; sink?: string; json?: boolean },
): Promise<SearchHit[]> {
  const { embedder } = await embedderFor(ctx.spec, ['embed'], (p) => resolve(ctx.baseDir, p));
  if (!embedder) throw new Error('no embedder');
  const sinks = await createSinks(ctx.spec, { baseDir: ctx.baseDir });
  try {
    const name = opts.sink ?? ctx.spec.sinks[0]!.name;
    const sink = sinks.get(name);
    if (!sink) throw new Error(`the pipeline has no sink named ${name}`);
    const vector = await embedder.embedQuery(query);
    // Readers go through the alias (blue/green); before a pipeline's first write there is none, and nothing to find.
    const index = (await sink.getAlias(indexAlias(ctx.spec))) ?? indexName(ctx.spec);
    const hits = await sink.search(index, vector, { topK: opts.topK ?? 5, tenant: ctx.spec.tenant });
    if (opts.json) console.log(JSON.stringify({ query, sink: name, hits }));
    else printHits(hits);
    return hits;
  } finally {
    await embedder.close();
    await Promise.all([...sinks.values()].map((s) => s.close()));
  }
}

export function printHits(hits: SearchHit[]): void {
  if (hits.length === 0) console.log('no results');
  hits.forEach((h, i) => {
    const text = printable(h.text.replace(/\s+/g, ' ').trim());
    console.log(
      `${i + 1}. ${h.score.toFixed(3)}  ${printable(String(h.metadata.sourceUri))} [${h.metadata.start}..${h.metadata.end}]`,
    );
    console.log(`   ${text.length > 240 ? `${text.slice(0, 237)}...` : text}`);
  });
}
