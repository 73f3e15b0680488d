import {
  formatDocument,
  formatQuery,
  listModels,
  type ModelEntry,
  modelPromptVersion,
} from '../../connectors/embedders/catalog.ts';

const EXAMPLE_QUERY = 'how do retries work?';
const EXAMPLE_DOCUMENT = 'Retries back off exponentially.';

/** One catalog entry as `--json` prints it: every field, plus its prompt version and the formatted examples. */
function toJson(m: ModelEntry) {
  return {
    ...m,
    promptVersion: modelPromptVersion(m),
    examples: {
      query: formatQuery(m, EXAMPLE_QUERY),
      document: formatDocument(m, EXAMPLE_DOCUMENT),
    },
  };
}

/** Shows a prefix on one line, quoted so trailing spaces show and newlines read as \n; an empty one as a dash. */
const show = (prefix: string): string => (prefix === '' ? '-' : JSON.stringify(prefix));

/** `ingest models`: the embedding model catalog, as a table or (`--json`) as a JSON array. */
export function modelsCommand(opts: { json?: boolean }): void {
  const models = listModels();
  if (opts.json) {
    console.log(JSON.stringify(models.map(toJson)));
    return;
  }
  const rows = models.map((m) => [
    m.id,
    String(m.dims),
    m.matryoshkaDims.length > 0 ? m.matryoshkaDims.join(',') : '-',
    String(m.maxTokens),
    m.pooling,
    m.license,
    m.providers.join(','),
    m.tasks === 'named' ? `task ${m.query.defaultTask}` : show(m.query.prefix.replaceAll('{task}', '<task>')),
    m.tasks === 'named' ? `task ${m.document.defaultTask}` : show(m.document.prefix.replaceAll('{task}', '<task>')),
  ]);
  const head = ['model', 'dims', 'matryoshka', 'tokens', 'pooling', 'license', 'providers', 'query', 'document'];
  // The prefix columns can be long; only the columns before them are padded.
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i < r.length - 2 ? c.padEnd(widths[i]!) : c))
      .join('  ')
      .trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log(`\n${models.length} models; \`ingest models --json\` gives every field and each model's formatted examples.`);
}
