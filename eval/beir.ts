import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Qrels } from './metrics.ts';

// A BEIR dataset folder (github.com/beir-cellar/beir): corpus.jsonl `{ _id, title, text }`, queries.jsonl
// `{ _id, text }`, qrels/<split>.tsv `query-id corpus-id score` with a header line. Public sets (SciFact, NFCorpus,
// FiQA...) unpack to exactly this layout.

export interface BeirDoc {
  id: string;
  /** Title and text joined as one document, the title on its own line when there is one. */
  text: string;
}

export interface BeirDataset {
  docs: BeirDoc[];
  queries: Map<string, string>;
  qrels: Qrels;
}

async function* jsonl(path: string): AsyncGenerator<Record<string, unknown>> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    n++;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${path}:${n}: not a JSON line`);
    }
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

export async function loadBeir(dir: string, split = 'test'): Promise<BeirDataset> {
  const qrelsPath = join(dir, 'qrels', `${split}.tsv`);
  for (const p of [join(dir, 'corpus.jsonl'), join(dir, 'queries.jsonl'), qrelsPath]) {
    await access(p).catch(() => {
      throw new Error(`${p} is missing: a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/${split}.tsv`);
    });
  }
  const qrels: Qrels = new Map();
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(qrelsPath), crlfDelay: Infinity })) {
    n++;
    const cols = line.split('\t');
    if (line.trim() === '' || (n === 1 && Number.isNaN(Number(cols[2])))) continue; // header
    if (cols.length < 3 || Number.isNaN(Number(cols[2]))) throw new Error(`${qrelsPath}:${n}: want query-id, corpus-id, score`);
    const [q, d, s] = cols as [string, string, string];
    if (!qrels.has(q)) qrels.set(q, new Map());
    qrels.get(q)!.set(d, Number(s));
  }
  const queries = new Map<string, string>();
  for await (const q of jsonl(join(dir, 'queries.jsonl'))) {
    const id = str(q._id);
    if (qrels.has(id)) queries.set(id, str(q.text));
  }
  const docs: BeirDoc[] = [];
  for await (const d of jsonl(join(dir, 'corpus.jsonl'))) {
    const title = str(d.title).trim();
    const body = str(d.text);
    const text = title ? `${title}\n\n${body}` : body;
    if (text.trim() !== '') docs.push({ id: str(d._id), text });
  }
  return { docs, queries, qrels };
}

/**
 * A smaller, reproducible slice of a dataset, for strategies too slow for the whole corpus (Meta-Chunking's language
 * model pass): the first `queries` queries by id, and a corpus of every document judged for them plus other documents
 * up to `maxDocs`, picked in the order of sha256 of their ids (the same slice on every machine). Scores on a slice are
 * higher than on the whole corpus (fewer distractors): compare strategies on the same slice only.
 */
export function subsetBeir(ds: BeirDataset, opts: { queries?: number; maxDocs?: number }): BeirDataset {
  const ids = [...ds.queries.keys()].sort();
  const kept = new Set(opts.queries === undefined ? ids : ids.slice(0, opts.queries));
  const queries = new Map([...ds.queries].filter(([q]) => kept.has(q)));
  const qrels = new Map([...ds.qrels].filter(([q]) => kept.has(q)));
  if (opts.maxDocs === undefined) return { docs: ds.docs, queries, qrels };
  const judged = new Set([...qrels.values()].flatMap((m) => [...m.keys()]));
  const rank = (id: string) => createHash('sha256').update(id).digest('hex');
  const others = ds.docs
    .filter((d) => !judged.has(d.id))
    .map((d) => ({ d, r: rank(d.id) }))
    .sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : 0))
    .slice(0, Math.max(0, opts.maxDocs - judged.size))
    .map(({ d }) => d.id);
  const keep = new Set([...judged, ...others]);
  return { docs: ds.docs.filter((d) => keep.has(d.id)), queries, qrels };
}
