import { describe } from 'node:test';
import { createCohereEmbedder } from '../../connectors/embedders/cohere.ts';
import type { HostedEmbedder } from '../../connectors/embedders/hosted.ts';
import { createJinaEmbedder } from '../../connectors/embedders/jina.ts';
import { createOpenAICompatibleEmbedder } from '../../connectors/embedders/openai-compatible.ts';
import { embedderContract, type EmbedderFactoryOptions, type EmbedderUnderTest } from './embedder.contract.ts';

// The same contract against the real services, opt-in: each runs only when its API key is set. Requests stay few
// and small, under a modest per-process budget, so a run costs a fraction of a cent.

const words = (n: number): string => Array.from({ length: n }, (_, i) => `token${i}`).join(' ');
const polite = { rateLimits: { requestsPerWindow: 30, windowMs: 60_000 } };

function live(make: (o: EmbedderFactoryOptions) => HostedEmbedder, badInput?: string) {
  return async (o: EmbedderFactoryOptions): Promise<EmbedderUnderTest> => {
    const embedder = make(o);
    return { embedder, ...(badInput ? { badInput } : {}), cleanup: () => embedder.close() };
  };
}

function liveSuite(envVar: string, name: string, factory: ReturnType<typeof live>): void {
  describe(
    `${name} live service`,
    { skip: process.env[envVar] ? false : `${envVar} not set: live ${name} run is opt-in` },
    () => {
      embedderContract(`${name} (live)`, factory);
    },
  );
}

liveSuite(
  'OPENAI_API_KEY',
  'OpenAI',
  live(
    (o) =>
      createOpenAICompatibleEmbedder({
        provider: 'openai',
        apiKey: process.env.OPENAI_API_KEY,
        model: 'text-embedding-3-small',
        dims: 1536,
        dimensions: 256,
        matryoshkaDims: 'any',
        ...polite,
        ...o,
      }),
    // Over the 8,192-token input limit: rejected on its own.
    words(12_000),
  ),
);

liveSuite(
  'COHERE_API_KEY',
  'Cohere',
  live(
    (o) =>
      createCohereEmbedder({
        apiKey: process.env.COHERE_API_KEY ?? '',
        model: 'embed-english-v3.0',
        dims: 1024,
        truncate: 'NONE',
        ...polite,
        ...o,
      }),
    words(2_000),
  ),
);

liveSuite(
  'JINA_API_KEY',
  'Jina',
  live(
    (o) =>
      createJinaEmbedder({
        apiKey: process.env.JINA_API_KEY ?? '',
        model: 'jina-embeddings-v3',
        dims: 1024,
        dimensions: 256,
        matryoshkaDims: [32, 64, 128, 256, 512, 768],
        truncate: false,
        ...polite,
        ...o,
      }),
    words(12_000),
  ),
);

liveSuite(
  'MXBAI_API_KEY',
  'mixedbread',
  live((o) =>
    createOpenAICompatibleEmbedder({
      provider: 'mixedbread',
      apiKey: process.env.MXBAI_API_KEY,
      model: 'mixedbread-ai/mxbai-embed-large-v1',
      dims: 1024,
      maxTokens: 512,
      ...polite,
      ...o,
    }),
  ),
);
