import type { ModelEntry, SideFormat } from './catalog.ts';

// The model catalog's data. Checked facts come from the "Embedding model formats" section of shared/REFERENCE.md;
// the rest is from the published model cards as remembered, and every such field a card may contradict is listed in
// the entry's `unverified` (with a comment saying why), so `ingest models --json` shows users what to double-check.

/** The retrieval instruction that E5-mistral, mE5-instruct, gte-Qwen2 and Qwen3 use in their cards' examples. */
export const WEB_SEARCH_TASK = 'Given a web search query, retrieve relevant passages that answer the query';
const BGE_EN_QUERY = 'Represent this sentence for searching relevant passages: ';
const BGE_ZH_QUERY = '为这个句子生成表示以用于检索相关文章：';

const plain: SideFormat = { prefix: '', defaultTask: null };
const fixed = (prefix: string): SideFormat => ({ prefix, defaultTask: null });
const instructed = (prefix: string, task: string = WEB_SEARCH_TASK): SideFormat => ({ prefix, defaultTask: task });
/** Named-task models: the side's prefix is the default task's own prefix. */
const named = (task: string): SideFormat => ({ prefix: '{task}', defaultTask: task });

type Required = Pick<ModelEntry, 'id' | 'family' | 'dims' | 'maxTokens' | 'pooling' | 'tokenizer' | 'license' | 'providers'>;
/** Fills the defaults and fixes the field order, so `ingest models --json` reads the same for every entry. */
const entry = (e: Required & Partial<ModelEntry>): ModelEntry => ({
  id: e.id,
  hfId: e.hfId ?? null,
  family: e.family,
  dims: e.dims,
  matryoshkaDims: e.matryoshkaDims ?? [],
  maxTokens: e.maxTokens,
  pooling: e.pooling,
  normalized: e.normalized ?? true,
  tasks: e.tasks ?? 'none',
  namedTasks: e.namedTasks ?? null,
  query: e.query ?? plain,
  document: e.document ?? plain,
  tokenizer: e.tokenizer,
  license: e.license,
  providers: e.providers,
  notes: e.notes ?? '',
  unverified: e.unverified ?? [],
});

const LOCAL_ENCODER = ['local-onnx', 'tei'] as const;

const bge = (size: string, lang: 'en' | 'zh', dims: number): ModelEntry =>
  entry({
    id: `bge-${size}-${lang}-v1.5`,
    hfId: `BAAI/bge-${size}-${lang}-v1.5`,
    family: 'bge',
    dims,
    maxTokens: 512,
    pooling: 'cls',
    query: fixed(lang === 'en' ? BGE_EN_QUERY : BGE_ZH_QUERY),
    tokenizer: lang === 'en' ? 'bert-base-uncased' : 'bert-base-chinese',
    license: 'MIT',
    providers: LOCAL_ENCODER,
    notes: 'The query instruction is optional for short-query-to-passage retrieval but helps; documents take none.',
  });

const e5 = (id: string, hfId: string, dims: number, multilingual: boolean): ModelEntry =>
  entry({
    id,
    hfId,
    family: 'e5',
    dims,
    maxTokens: 512,
    pooling: 'mean',
    query: fixed('query: '),
    document: fixed('passage: '),
    tokenizer: multilingual ? 'xlm-roberta' : 'bert-base-uncased',
    license: 'MIT',
    providers: LOCAL_ENCODER,
    notes: 'Both prefixes are required, even for symmetric tasks (then `query: ` on both sides).',
  });

/** Qwen3-Embedding accepts any output size from 32 up to its width; we list the usual steps. */
const qwen3 = (size: string, dims: number, matryoshkaDims: number[]): ModelEntry =>
  entry({
    id: `Qwen3-Embedding-${size}`,
    hfId: `Qwen/Qwen3-Embedding-${size}`,
    family: 'qwen3',
    dims,
    matryoshkaDims,
    maxTokens: 32768,
    pooling: 'last-token',
    tasks: 'instruction',
    // No space after `Query:`: the card's get_detailed_instruct and its sentence-transformers prompt both end there.
    query: instructed('Instruct: {task}\nQuery:'),
    tokenizer: 'qwen2',
    license: 'Apache-2.0',
    providers: ['tei', 'vllm'],
    notes: 'Pools the final EOS token: pad on the left. Instructions are written in English even for other languages.',
  });

const instructor = (size: string): ModelEntry =>
  entry({
    id: `instructor-${size}`,
    hfId: `hkunlp/instructor-${size}`,
    family: 'instructor',
    dims: 768,
    maxTokens: 512,
    pooling: 'mean-excluding-instruction',
    tasks: 'instruction',
    // Both sides are [instruction, text] pairs; the model reads them concatenated and pools over the text only.
    query: instructed('{task}', 'Represent the Wikipedia question for retrieving supporting documents: '),
    document: instructed('{task}', 'Represent the Wikipedia document for retrieval: '),
    tokenizer: 't5',
    license: 'Apache-2.0',
    providers: ['sentence-transformers'],
    notes: 'Instructions follow "Represent the {domain} {text type} for {purpose}: "; write one per corpus for best results.',
  });

const cohere = (id: string, dims: number, extra: Partial<ModelEntry> = {}): ModelEntry =>
  entry({
    id,
    family: 'cohere',
    dims,
    maxTokens: 512,
    pooling: 'hosted',
    tasks: 'named',
    // input_type is a request parameter, not a prefix: the API applies it.
    namedTasks: { search_query: '', search_document: '', classification: '', clustering: '' },
    query: named('search_query'),
    document: named('search_document'),
    tokenizer: 'cohere',
    license: 'proprietary',
    providers: ['cohere'],
    notes: 'input_type is required by v3 and later; at most 96 texts per request.',
    // Cohere does not state that float embeddings are unit length.
    unverified: ['normalized'],
    ...extra,
  });

const JINA_V3_TASKS = {
  'retrieval.query': 'Represent the query for retrieving evidence documents: ',
  'retrieval.passage': 'Represent the document for retrieval: ',
  'text-matching': '',
  classification: '',
  separation: '',
};
// v4's weights use `Query: `/`Passage: ` prompts and pick a LoRA adapter per task (retrieval, text-matching, code).
const JINA_V4_TASKS = {
  'retrieval.query': 'Query: ',
  'retrieval.passage': 'Passage: ',
  'text-matching': 'Query: ',
  'code.query': 'Query: ',
  'code.passage': 'Passage: ',
};

export const MODELS: readonly ModelEntry[] = [
  // The embedded default: symmetric, no prefixes.
  entry({
    id: 'all-MiniLM-L6-v2',
    hfId: 'sentence-transformers/all-MiniLM-L6-v2',
    family: 'sentence-transformers',
    dims: 384,
    maxTokens: 256,
    pooling: 'mean',
    tokenizer: 'bert-base-uncased',
    license: 'Apache-2.0',
    providers: LOCAL_ENCODER,
    notes: 'The embedded default (int8 ONNX). Symmetric: queries and documents are embedded alike.',
  }),
  bge('small', 'en', 384),
  bge('base', 'en', 768),
  bge('large', 'en', 1024),
  bge('small', 'zh', 512),
  bge('base', 'zh', 768),
  bge('large', 'zh', 1024),
  entry({
    id: 'bge-m3',
    hfId: 'BAAI/bge-m3',
    family: 'bge',
    dims: 1024,
    maxTokens: 8192,
    pooling: 'cls',
    tokenizer: 'xlm-roberta',
    license: 'MIT',
    providers: LOCAL_ENCODER,
    notes: 'No instruction on either side. Dense vectors only here (its sparse and multi-vector outputs are not used).',
  }),
  entry({
    id: 'gte-large-zh',
    hfId: 'thenlper/gte-large-zh',
    family: 'gte',
    dims: 1024,
    maxTokens: 512,
    pooling: 'cls',
    tokenizer: 'bert-base-chinese',
    license: 'MIT',
    providers: LOCAL_ENCODER,
  }),
  entry({
    id: 'gte-multilingual-base',
    hfId: 'Alibaba-NLP/gte-multilingual-base',
    family: 'gte',
    dims: 768,
    // The card gives an elastic range of 128 to 768; the intermediate steps are our choice.
    matryoshkaDims: [128, 256, 512],
    maxTokens: 8192,
    pooling: 'cls',
    tokenizer: 'xlm-roberta',
    license: 'Apache-2.0',
    providers: LOCAL_ENCODER,
    notes: 'Custom architecture (trust_remote_code). No instruction on either side.',
    unverified: ['matryoshkaDims'],
  }),
  entry({
    id: 'gte-Qwen2-7B-instruct',
    hfId: 'Alibaba-NLP/gte-Qwen2-7B-instruct',
    family: 'gte',
    dims: 3584,
    maxTokens: 32768,
    pooling: 'last-token',
    tasks: 'instruction',
    query: instructed('Instruct: {task}\nQuery: '),
    tokenizer: 'qwen2',
    license: 'Apache-2.0',
    providers: ['tei', 'vllm'],
    notes: 'Bidirectional attention over a Qwen2 decoder; pools the final EOS token.',
  }),
  e5('e5-small-v2', 'intfloat/e5-small-v2', 384, false),
  e5('e5-base-v2', 'intfloat/e5-base-v2', 768, false),
  e5('e5-large-v2', 'intfloat/e5-large-v2', 1024, false),
  e5('multilingual-e5-small', 'intfloat/multilingual-e5-small', 384, true),
  e5('multilingual-e5-base', 'intfloat/multilingual-e5-base', 768, true),
  e5('multilingual-e5-large', 'intfloat/multilingual-e5-large', 1024, true),
  entry({
    id: 'multilingual-e5-large-instruct',
    hfId: 'intfloat/multilingual-e5-large-instruct',
    family: 'e5',
    dims: 1024,
    maxTokens: 512,
    pooling: 'mean',
    tasks: 'instruction',
    query: instructed('Instruct: {task}\nQuery: '),
    tokenizer: 'xlm-roberta',
    license: 'MIT',
    providers: LOCAL_ENCODER,
  }),
  entry({
    id: 'e5-mistral-7b-instruct',
    hfId: 'intfloat/e5-mistral-7b-instruct',
    family: 'e5',
    dims: 4096,
    // The card's example uses max_length 4096; fine-tuning used far shorter inputs.
    maxTokens: 4096,
    pooling: 'last-token',
    tasks: 'instruction',
    query: instructed('Instruct: {task}\nQuery: '),
    tokenizer: 'mistral',
    license: 'MIT',
    providers: ['tei', 'vllm'],
    notes: 'Appends EOS and pools it.',
    unverified: ['maxTokens'],
  }),
  qwen3('0.6B', 1024, [32, 64, 128, 256, 512, 768]),
  qwen3('4B', 2560, [32, 64, 128, 256, 512, 768, 1024, 1536, 2048]),
  qwen3('8B', 4096, [32, 64, 128, 256, 512, 768, 1024, 1536, 2048, 3072]),
  entry({
    id: 'jina-embeddings-v2-small-en',
    hfId: 'jinaai/jina-embeddings-v2-small-en',
    family: 'jina',
    dims: 512,
    maxTokens: 8192,
    pooling: 'mean',
    tokenizer: 'bert-base-uncased',
    license: 'Apache-2.0',
    providers: ['local-onnx', 'tei', 'jina'],
    notes: 'ALiBi positions (custom code). No prefixes.',
    // The API returns unit vectors; the weights' own pipeline may leave normalisation to the caller.
    unverified: ['normalized'],
  }),
  entry({
    id: 'jina-embeddings-v2-base-en',
    hfId: 'jinaai/jina-embeddings-v2-base-en',
    family: 'jina',
    dims: 768,
    maxTokens: 8192,
    pooling: 'mean',
    tokenizer: 'bert-base-uncased',
    license: 'Apache-2.0',
    providers: ['local-onnx', 'tei', 'jina'],
    notes: 'ALiBi positions (custom code). No prefixes.',
    unverified: ['normalized'],
  }),
  entry({
    id: 'jina-embeddings-v3',
    hfId: 'jinaai/jina-embeddings-v3',
    family: 'jina',
    dims: 1024,
    matryoshkaDims: [32, 64, 128, 256, 512, 768],
    maxTokens: 8192,
    pooling: 'mean',
    tasks: 'named',
    namedTasks: JINA_V3_TASKS,
    query: named('retrieval.query'),
    document: named('retrieval.passage'),
    tokenizer: 'xlm-roberta',
    license: 'CC-BY-NC-4.0',
    // local-onnx cannot feed the task_id input that selects the LoRA adapter.
    providers: ['jina', 'sentence-transformers'],
    notes: 'The task picks a LoRA adapter and an instruction; the API adds the instruction itself from `task`.',
  }),
  entry({
    id: 'jina-embeddings-v4',
    hfId: 'jinaai/jina-embeddings-v4',
    family: 'jina',
    dims: 2048,
    matryoshkaDims: [128, 256, 512, 1024],
    maxTokens: 32768,
    pooling: 'mean',
    tasks: 'named',
    namedTasks: JINA_V4_TASKS,
    query: named('retrieval.query'),
    document: named('retrieval.passage'),
    tokenizer: 'qwen2',
    // Built on Qwen2.5-VL-3B; the card's licence line is remembered, not checked.
    license: 'CC-BY-NC-4.0',
    providers: ['jina', 'vllm'],
    notes: 'Multimodal (text and images); also offers 128-dim multi-vector output, not used here.',
    unverified: ['license', 'namedTasks'],
  }),
  entry({
    id: 'GritLM-7B',
    hfId: 'GritLM/GritLM-7B',
    family: 'gritlm',
    dims: 4096,
    // Mistral-7B based; the embedding examples do not state a window and training used shorter inputs.
    maxTokens: 4096,
    pooling: 'mean-excluding-instruction',
    tasks: 'instruction',
    query: instructed('<|user|>\n{task}\n<|embed|>\n'),
    // Documents carry no instruction: the embed marker alone.
    document: fixed('<|embed|>\n'),
    tokenizer: 'mistral',
    license: 'Apache-2.0',
    providers: ['vllm', 'sentence-transformers'],
    notes: 'Generative and embedding in one model; embeddings use bidirectional attention and pool the text tokens only.',
    unverified: ['maxTokens'],
  }),
  instructor('base'),
  instructor('large'),
  instructor('xl'),
  entry({
    id: 'mxbai-embed-large-v1',
    hfId: 'mixedbread-ai/mxbai-embed-large-v1',
    family: 'mxbai',
    dims: 1024,
    // Trained with Matryoshka loss; the card shows 512, the other steps are our choice.
    matryoshkaDims: [128, 256, 512, 768],
    maxTokens: 512,
    pooling: 'cls',
    query: fixed(BGE_EN_QUERY),
    tokenizer: 'bert-base-uncased',
    license: 'Apache-2.0',
    providers: ['local-onnx', 'tei', 'mixedbread'],
    notes: 'Also trained for binary quantisation.',
    unverified: ['matryoshkaDims'],
  }),
  entry({
    id: 'Seed1.5-Embedding',
    family: 'seed',
    dims: 2048,
    // Truncate then renormalise (REFERENCE.md).
    matryoshkaDims: [256, 512, 1024],
    // The Ark docs' input limit is not in REFERENCE.md.
    maxTokens: 4096,
    pooling: 'hosted',
    tasks: 'instruction',
    query: instructed('Instruct: {task}\nQuery: '),
    tokenizer: 'seed',
    license: 'proprietary',
    providers: ['volcengine'],
    notes: 'Served by Volcengine Ark through an OpenAI-shaped API; the instruction is sent as part of the text.',
    unverified: ['maxTokens', 'query'],
  }),
  entry({
    id: 'text-embedding-3-small',
    family: 'openai',
    dims: 1536,
    // The API accepts any `dimensions` up to the width; we allow the sizes OpenAI published results for.
    matryoshkaDims: [256, 512, 1024],
    maxTokens: 8192,
    pooling: 'hosted',
    tokenizer: 'cl100k_base',
    license: 'proprietary',
    providers: ['openai'],
    notes: 'Shorten with the `dimensions` request parameter rather than by hand. No prefixes.',
  }),
  entry({
    id: 'text-embedding-3-large',
    family: 'openai',
    dims: 3072,
    matryoshkaDims: [256, 512, 1024, 1536],
    maxTokens: 8192,
    pooling: 'hosted',
    tokenizer: 'cl100k_base',
    license: 'proprietary',
    providers: ['openai'],
    notes: 'Shorten with the `dimensions` request parameter rather than by hand. No prefixes.',
  }),
  entry({
    id: 'text-embedding-ada-002',
    family: 'openai',
    dims: 1536,
    maxTokens: 8192,
    pooling: 'hosted',
    tokenizer: 'cl100k_base',
    license: 'proprietary',
    providers: ['openai'],
    notes: 'Fixed width: the `dimensions` parameter is refused.',
  }),
  cohere('embed-english-v3.0', 1024),
  cohere('embed-multilingual-v3.0', 1024),
  cohere('embed-english-light-v3.0', 384),
  cohere('embed-multilingual-light-v3.0', 384),
  cohere('embed-v4.0', 1536, {
    matryoshkaDims: [256, 512, 1024],
    maxTokens: 128000,
    notes: 'Multimodal; output_dimension picks the Matryoshka size; at most 96 texts per request.',
    unverified: ['normalized', 'maxTokens'],
  }),
];
