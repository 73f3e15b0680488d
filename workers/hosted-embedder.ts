import { createHash } from 'node:crypto';
import type { TokenCounter } from '../connectors/chunkers/chunker.ts';
import type { Embedder } from '../connectors/embedders/embedder.ts';
import type { EmbedFormat, HostedDeps } from '../connectors/embedders/hosted.ts';
import { createPoolEmbedder, DEFAULT_EMBED_SERVER } from '../connectors/embedders/pool.ts';
import { ConnectorError, FailureType } from '../connectors/shared/errors.ts';
import type { LedgerSpec, PipelineSpec } from '../pipeline/spec.ts';

type HostedSpec = Extract<PipelineSpec['embedder'], { kind: 'openai-compatible' | 'tei' | 'pool' | 'cohere' | 'jina' }>;

const KEY_ENV: Record<string, string> = {
  openai: 'OPENAI_API_KEY',
  cohere: 'COHERE_API_KEY',
  jina: 'JINA_API_KEY',
  mixedbread: 'MXBAI_API_KEY',
  ark: 'ARK_API_KEY',
};

export function isHosted(e: PipelineSpec['embedder']): e is HostedSpec {
  return e.kind === 'openai-compatible' || e.kind === 'tei' || e.kind === 'pool' || e.kind === 'cohere' || e.kind === 'jina';
}

/**
 * A served or hosted embedder from the spec: the API key from the spec or the environment (read here, at the edge),
 * the catalog's formats, and a rate budget (one per API, model and key) kept where the pipeline's ledger is: in the
 * PostgreSQL ledger's database and schema, shared by every host of the fleet, or in the SQLite file `budget.path`,
 * shared by the worker processes of one host. Ingest workers build it too, only for its token counter: nothing is
 * sent until an embed call (the PostgreSQL store connects at its first acquire). Closing the embedder closes the budget.
 */
export async function hostedEmbedderFor(
  e: HostedSpec,
  ledger: LedgerSpec,
  at: (p: string) => string,
  env: NodeJS.ProcessEnv,
  embedServer?: string,
): Promise<{ embedder: Embedder; counter: TokenCounter }> {
  const { kind, batchSize: _b, budget: budgetSpec, catalog, ...rest } = e;
  // A pool embedder sends to this worker's own server (the spec names no address; a rate budget is then per server).
  const server = kind === 'pool' ? (embedServer ?? (env.RAGLINE_EMBED_SERVER || DEFAULT_EMBED_SERVER)) : undefined;
  // A worker-side tokenizer's path is relative to the spec's folder, as every path in the spec.
  const tokenizer = 'tokenizer' in rest && typeof rest.tokenizer === 'string' ? { tokenizer: at(rest.tokenizer) } : {};
  const config = server ? { ...rest, ...tokenizer, baseUrl: server } : { ...rest, ...tokenizer };
  const provider = kind === 'openai-compatible' ? ((e as { provider?: string }).provider ?? 'generic') : kind;
  const envKey = KEY_ENV[provider];
  const apiKey = (config as { apiKey?: string }).apiKey ?? (envKey ? env[envKey] : undefined);
  if (!apiKey && (kind === 'cohere' || kind === 'jina')) {
    throw new ConnectorError(FailureType.InvalidInput, `embedder ${kind}: set apiKey in the pipeline or ${envKey}`);
  }
  const deps: HostedDeps = { format: catalog ? await catalogFormat(catalog, kind === 'cohere' || kind === 'jina') : undefined };
  if (budgetSpec) {
    const { path, ...limits } = budgetSpec;
    const keyTag = apiKey ? createHash('sha256').update(apiKey).digest('hex').slice(0, 12) : 'nokey';
    const where = (config as { baseUrl?: string }).baseUrl ?? provider;
    const name = `${provider}:${where}:${config.model}:${keyTag}`;
    if (ledger.kind === 'postgres') {
      const { createPostgresRateBudget } = await import('../connectors/embedders/rate-budget-postgres.ts');
      const { kind: _kind, ...connection } = ledger;
      // Each transaction is a few short statements: two connections per process are plenty.
      deps.budget = createPostgresRateBudget({ ...connection, poolSize: Math.min(connection.poolSize, 2), name, ...limits });
    } else {
      // On its own thread: a budget wait or a lock held by another process never blocks this one's event loop.
      const { createThreadedSqliteRateBudget } = await import('../connectors/ledger/sqlite-thread.ts');
      deps.budget = createThreadedSqliteRateBudget({ path: at(path), name, ...limits });
    }
  }
  const withKey = { ...config, ...(apiKey ? { apiKey } : {}) };
  let embedder: Embedder;
  if (kind === 'openai-compatible') {
    const m = await import('../connectors/embedders/openai-compatible.ts');
    embedder = m.createOpenAICompatibleEmbedder(withKey as Parameters<typeof m.createOpenAICompatibleEmbedder>[0], deps);
  } else if (kind === 'pool') {
    embedder = createPoolEmbedder(withKey as Parameters<typeof createPoolEmbedder>[0], server!, deps);
  } else if (kind === 'tei') {
    const m = await import('../connectors/embedders/tei.ts');
    embedder = m.createTeiEmbedder(withKey as Parameters<typeof m.createTeiEmbedder>[0], deps);
  } else if (kind === 'cohere') {
    const m = await import('../connectors/embedders/cohere.ts');
    embedder = m.createCohereEmbedder(withKey as Parameters<typeof m.createCohereEmbedder>[0], deps);
  } else {
    const m = await import('../connectors/embedders/jina.ts');
    embedder = m.createJinaEmbedder(withKey as Parameters<typeof m.createJinaEmbedder>[0], deps);
  }
  const budget = deps.budget;
  if (budget) {
    // The embedder leaves a budget it was given open (sharers may outlive it); this one is the embedder's alone, and
    // an open pool would keep a finished CLI process alive until its idle connections time out.
    const closeEmbedder = embedder.close.bind(embedder);
    embedder.close = async () => {
      try {
        await closeEmbedder();
      } finally {
        await budget.close();
      }
    };
  }
  return { embedder, counter: { name: `estimate:${embedder.identity}`, count: (t) => embedder.countTokens(t) } };
}

/**
 * The catalog entry's query and document formats (prefixes, instructions); their version enters the identity. A
 * hosted API that takes the task by name (Cohere input_type, Jina task) applies it itself: `hosted` leaves it out.
 */
async function catalogFormat(id: string, hosted: boolean): Promise<EmbedFormat> {
  const { formatDocument, formatQuery, getModel, promptVersion } = await import('../connectors/embedders/catalog.ts');
  const model = getModel(id);
  const query = (t: string): string => formatQuery(model, t, { hosted });
  const document = (t: string): string => formatDocument(model, t, { hosted });
  return { query, document, version: `${model.id}:${promptVersion(query, document)}` };
}
