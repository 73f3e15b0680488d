import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CatalogError,
  CatalogErrorReason,
  embedderIdentity,
  findModel,
  formatDocument,
  formatQuery,
  getModel,
  listModels,
  matryoshka,
  modelPromptVersion,
  promptParts,
} from './catalog.ts';

const Q = 'how do retries work?';
const D = 'Retries back off exponentially.';

// Literal strings, deliberately not built from the catalog's constants: a changed prefix must fail here.
const WEB = 'Given a web search query, retrieve relevant passages that answer the query';
const BGE_EN = `Represent this sentence for searching relevant passages: ${Q}`;
const BGE_ZH = `为这个句子生成表示以用于检索相关文章：${Q}`;
const E5 = [`query: ${Q}`, `passage: ${D}`] as const;
const INSTRUCT_SPACE = [`Instruct: ${WEB}\nQuery: ${Q}`, D] as const;
const QWEN3 = [`Instruct: ${WEB}\nQuery:${Q}`, D] as const;
const INSTRUCTOR = [
  `Represent the Wikipedia question for retrieving supporting documents: ${Q}`,
  `Represent the Wikipedia document for retrieval: ${D}`,
] as const;
const PLAIN = [Q, D] as const;

/** Every model the issue names, with its exact [query, document] strings for Q and D. */
const EXPECTED: Record<string, readonly [string, string]> = {
  'all-MiniLM-L6-v2': PLAIN,
  'bge-small-en-v1.5': [BGE_EN, D],
  'bge-base-en-v1.5': [BGE_EN, D],
  'bge-large-en-v1.5': [BGE_EN, D],
  'bge-small-zh-v1.5': [BGE_ZH, D],
  'bge-base-zh-v1.5': [BGE_ZH, D],
  'bge-large-zh-v1.5': [BGE_ZH, D],
  'bge-m3': PLAIN,
  'gte-large-zh': PLAIN,
  'gte-multilingual-base': PLAIN,
  'gte-Qwen2-7B-instruct': INSTRUCT_SPACE,
  'e5-small-v2': E5,
  'e5-base-v2': E5,
  'e5-large-v2': E5,
  'multilingual-e5-small': E5,
  'multilingual-e5-base': E5,
  'multilingual-e5-large': E5,
  'multilingual-e5-large-instruct': INSTRUCT_SPACE,
  'e5-mistral-7b-instruct': INSTRUCT_SPACE,
  'Qwen3-Embedding-0.6B': QWEN3,
  'Qwen3-Embedding-4B': QWEN3,
  'Qwen3-Embedding-8B': QWEN3,
  'jina-embeddings-v2-small-en': PLAIN,
  'jina-embeddings-v2-base-en': PLAIN,
  'jina-embeddings-v3': [
    `Represent the query for retrieving evidence documents: ${Q}`,
    `Represent the document for retrieval: ${D}`,
  ],
  'jina-embeddings-v4': [`Query: ${Q}`, `Passage: ${D}`],
  'GritLM-7B': [`<|user|>\n${WEB}\n<|embed|>\n${Q}`, `<|embed|>\n${D}`],
  'instructor-base': INSTRUCTOR,
  'instructor-large': INSTRUCTOR,
  'instructor-xl': INSTRUCTOR,
  'mxbai-embed-large-v1': [BGE_EN, D],
  'Seed1.5-Embedding': INSTRUCT_SPACE,
  'text-embedding-3-small': PLAIN,
  'text-embedding-3-large': PLAIN,
  'text-embedding-ada-002': PLAIN,
  'embed-english-v3.0': PLAIN,
  'embed-multilingual-v3.0': PLAIN,
  'embed-english-light-v3.0': PLAIN,
  'embed-multilingual-light-v3.0': PLAIN,
  'embed-v4.0': PLAIN,
};

/** [dims, maxTokens, pooling] as the REFERENCE and the cards give them. */
const SHAPES: Record<string, readonly [number, number, string]> = {
  'all-MiniLM-L6-v2': [384, 256, 'mean'],
  'bge-small-en-v1.5': [384, 512, 'cls'],
  'bge-base-en-v1.5': [768, 512, 'cls'],
  'bge-large-en-v1.5': [1024, 512, 'cls'],
  'bge-m3': [1024, 8192, 'cls'],
  'gte-large-zh': [1024, 512, 'cls'],
  'gte-multilingual-base': [768, 8192, 'cls'],
  'gte-Qwen2-7B-instruct': [3584, 32768, 'last-token'],
  'e5-large-v2': [1024, 512, 'mean'],
  'multilingual-e5-small': [384, 512, 'mean'],
  'Qwen3-Embedding-0.6B': [1024, 32768, 'last-token'],
  'Qwen3-Embedding-4B': [2560, 32768, 'last-token'],
  'Qwen3-Embedding-8B': [4096, 32768, 'last-token'],
  'jina-embeddings-v2-base-en': [768, 8192, 'mean'],
  'jina-embeddings-v3': [1024, 8192, 'mean'],
  'jina-embeddings-v4': [2048, 32768, 'mean'],
  'GritLM-7B': [4096, 4096, 'mean-excluding-instruction'],
  'instructor-xl': [768, 512, 'mean-excluding-instruction'],
  'mxbai-embed-large-v1': [1024, 512, 'cls'],
  'Seed1.5-Embedding': [2048, 4096, 'hosted'],
  'text-embedding-3-small': [1536, 8192, 'hosted'],
  'text-embedding-3-large': [3072, 8192, 'hosted'],
  'text-embedding-ada-002': [1536, 8192, 'hosted'],
  'embed-v4.0': [1536, 128000, 'hosted'],
};

const FIELDS = [
  'id',
  'hfId',
  'family',
  'dims',
  'matryoshkaDims',
  'maxTokens',
  'pooling',
  'normalized',
  'tasks',
  'namedTasks',
  'query',
  'document',
  'tokenizer',
  'license',
  'providers',
  'notes',
  'unverified',
].sort();

const rejectsWith = (reason: CatalogErrorReason, fn: () => unknown) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CatalogError, String(err));
    assert.equal(err.reason, reason);
    assert.equal(err.type, 'InvalidInput');
    assert.equal(err.retryable, false);
    return true;
  });

describe('embedding model catalog', () => {
  it('pins every model’s exact query and document strings', () => {
    assert.deepEqual(
      listModels()
        .map((m) => m.id)
        .sort(),
      Object.keys(EXPECTED).sort(),
    );
    for (const [id, [query, doc]] of Object.entries(EXPECTED)) {
      assert.equal(formatQuery(id, Q), query, `${id} query`);
      assert.equal(formatDocument(id, D), doc, `${id} document`);
    }
  });

  it('gives every entry every field, consistent with itself', () => {
    const ids = new Set<string>();
    for (const m of listModels()) {
      assert.deepEqual(Object.keys(m).sort(), FIELDS, m.id);
      assert.ok(!ids.has(m.id.toLowerCase()), `duplicate ${m.id}`);
      ids.add(m.id.toLowerCase());
      assert.ok(Number.isInteger(m.dims) && m.dims > 0, m.id);
      assert.ok(Number.isInteger(m.maxTokens) && m.maxTokens >= 256, m.id);
      const md = [...m.matryoshkaDims];
      assert.deepEqual(
        md,
        [...md].sort((a, b) => a - b),
        `${m.id} matryoshka ascending`,
      );
      assert.ok(
        md.every((d) => Number.isInteger(d) && d > 0 && d < m.dims),
        `${m.id} matryoshka below dims`,
      );
      assert.ok(m.providers.length > 0, `${m.id} providers`);
      assert.ok(m.license.length > 0 && m.tokenizer.length > 0, m.id);
      assert.equal(m.hfId === null, m.pooling === 'hosted', `${m.id}: API-only exactly when the pooling is hosted`);
      assert.equal(m.namedTasks !== null, m.tasks === 'named', `${m.id} namedTasks`);
      for (const side of [m.query, m.document]) {
        const takesTask = side.prefix.includes('{task}');
        assert.equal(side.defaultTask !== null, takesTask, `${m.id} defaultTask iff {task}`);
        if (takesTask) assert.notEqual(m.tasks, 'none', m.id);
        if (m.tasks === 'named' && side.defaultTask) assert.ok(Object.hasOwn(m.namedTasks!, side.defaultTask), m.id);
      }
      // Who can serve a model follows from how it pools: local-onnx does CLS and mean over BERT-style inputs only.
      if (m.providers.includes('local-onnx')) assert.ok(m.pooling === 'cls' || m.pooling === 'mean', m.id);
      for (const f of m.unverified) assert.ok(FIELDS.includes(f), `${m.id} unverified ${f}`);
    }
    for (const [id, [dims, maxTokens, pooling]] of Object.entries(SHAPES)) {
      const m = getModel(id);
      assert.deepEqual([m.dims, m.maxTokens, m.pooling], [dims, maxTokens, pooling], id);
    }
    assert.deepEqual(getModel('jina-embeddings-v3').matryoshkaDims, [32, 64, 128, 256, 512, 768]);
    assert.deepEqual(getModel('Seed1.5-Embedding').matryoshkaDims, [256, 512, 1024]);
    assert.deepEqual(getModel('text-embedding-ada-002').matryoshkaDims, []);
  });

  it('finds models by name or Hugging Face id in any case, and refuses unknown ones', () => {
    assert.equal(findModel('BAAI/bge-small-en-v1.5')?.id, 'bge-small-en-v1.5');
    assert.equal(findModel('qwen3-embedding-0.6b')?.id, 'Qwen3-Embedding-0.6B');
    assert.equal(findModel('sentence-transformers/all-MiniLM-L6-v2')?.id, 'all-MiniLM-L6-v2');
    assert.equal(findModel('no-such-model'), undefined);
    rejectsWith(CatalogErrorReason.UnknownModel, () => formatQuery('no-such-model', Q));
  });

  it('replaces the default instruction with the caller’s task', () => {
    const task = 'Given a question, retrieve Wikipedia passages that answer the question';
    assert.equal(formatQuery('Qwen3-Embedding-8B', Q, { task }), `Instruct: ${task}\nQuery:${Q}`);
    assert.equal(formatQuery('e5-mistral-7b-instruct', Q, { task }), `Instruct: ${task}\nQuery: ${Q}`);
    assert.equal(formatQuery('GritLM-7B', Q, { task }), `<|user|>\n${task}\n<|embed|>\n${Q}`);
    // Asymmetric models keep the document side bare whatever task is named for the pair.
    assert.equal(formatDocument('Qwen3-Embedding-8B', D, { task }), D);
    assert.equal(formatDocument('GritLM-7B', D, { task }), `<|embed|>\n${D}`);
    rejectsWith(CatalogErrorReason.UnsupportedTask, () => formatQuery('Qwen3-Embedding-8B', Q, { task: '  ' }));
  });

  it('gives INSTRUCTOR an [instruction, text] pair per side, and GritLM the part to leave out of pooling', () => {
    const q = promptParts('instructor-large', 'query', Q);
    assert.deepEqual(q, {
      prefix: 'Represent the Wikipedia question for retrieving supporting documents: ',
      text: Q,
      task: 'Represent the Wikipedia question for retrieving supporting documents: ',
    });
    const d = promptParts('instructor-large', 'document', D, { task: 'Represent the Science document for retrieval: ' });
    assert.deepEqual([d.prefix, d.text], ['Represent the Science document for retrieval: ', D]);
    assert.equal(promptParts('GritLM-7B', 'document', D).prefix, '<|embed|>\n');
  });

  it('maps Jina and Cohere tasks to prefixes for the weights and to names for the API', () => {
    assert.equal(formatQuery('jina-embeddings-v3', Q, { task: 'text-matching' }), Q);
    assert.equal(formatQuery('jina-embeddings-v3', Q, { hosted: true }), Q);
    assert.equal(promptParts('jina-embeddings-v3', 'document', D, { hosted: true }).task, 'retrieval.passage');
    assert.equal(formatDocument('jina-embeddings-v4', D, { task: 'code.passage' }), `Passage: ${D}`);
    assert.equal(promptParts('embed-v4.0', 'query', Q).task, 'search_query');
    assert.equal(promptParts('embed-english-v3.0', 'document', D).task, 'search_document');
    rejectsWith(CatalogErrorReason.UnsupportedTask, () => formatQuery('jina-embeddings-v3', Q, { task: 'retrieval' }));
    rejectsWith(CatalogErrorReason.UnsupportedTask, () => formatQuery('embed-v4.0', Q, { task: 'constructor' }));
  });

  it('refuses a task for models that take none, and non-string text', () => {
    rejectsWith(CatalogErrorReason.UnsupportedTask, () => formatQuery('bge-small-en-v1.5', Q, { task: 'anything' }));
    rejectsWith(CatalogErrorReason.InvalidText, () => formatDocument('bge-m3', 42 as unknown as string));
  });

  it('allows Matryoshka truncation only to listed sizes, and renormalises the cut', () => {
    const cut = matryoshka('jina-embeddings-v3', 256);
    const v = new Float32Array(1024).fill(1 / 32);
    const t = cut.truncate(v);
    assert.equal(t.length, 256);
    assert.ok(Math.abs(t.reduce((s, x) => s + x * x, 0) - 1) < 1e-6);
    assert.equal(matryoshka('bge-small-en-v1.5', 384).truncate(new Float32Array(384)).length, 384);
    rejectsWith(CatalogErrorReason.UnsupportedDims, () => matryoshka('jina-embeddings-v3', 300));
    rejectsWith(CatalogErrorReason.UnsupportedDims, () => matryoshka('bge-small-en-v1.5', 128));
    rejectsWith(CatalogErrorReason.UnsupportedDims, () => matryoshka('text-embedding-ada-002', 512));
    rejectsWith(CatalogErrorReason.UnsupportedDims, () => cut.truncate(new Float32Array(512)));
  });

  it('versions prompts by their effective formats', () => {
    const base = modelPromptVersion('Qwen3-Embedding-0.6B');
    assert.match(base, /^[0-9a-f]{8}$/);
    assert.equal(modelPromptVersion('Qwen3-Embedding-0.6B'), base);
    assert.notEqual(modelPromptVersion('Qwen3-Embedding-0.6B', { query: { task: 'Find code' } }), base);
    // Same formats, same version, whatever the model: the version is about prompts, the identity adds the model.
    assert.equal(modelPromptVersion('bge-small-en-v1.5'), modelPromptVersion('bge-large-en-v1.5'));
    assert.notEqual(modelPromptVersion('e5-small-v2'), modelPromptVersion('all-MiniLM-L6-v2'));
    assert.equal(
      embedderIdentity({ provider: 'tei', model: 'bge-m3', dims: 1024, promptVersion: 'abcd1234' }),
      'tei:bge-m3:1024:pabcd1234',
    );
  });
});
