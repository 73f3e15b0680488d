import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatPrompt, PromptScorer } from '../chunkers/meta/logprobs.ts';
import { createLlamaLocalScorer } from '../chunkers/meta/llama-local.ts';
import { ensureLocalLlm } from '../../scripts/fetch-llm.ts';
import { ConnectorError } from '../shared/errors.ts';
import { createLocalLlmReranker } from './local-llm.ts';

/** A scorer that answers from a table and records the prompts it was asked. */
function tableScorer(answer: (p: ChatPrompt) => [number, number]): PromptScorer & { asked: ChatPrompt[] } {
  const asked: ChatPrompt[] = [];
  return {
    name: 'table',
    asked,
    scoreText: () => Promise.reject(new Error('not used')),
    async nextTokenProbs(p, candidates) {
      assert.deepEqual(candidates, ['yes', 'no']);
      asked.push(p);
      return answer(p);
    },
    close: async () => {},
  };
}

describe('llm-yes-no reranker', () => {
  it("asks Qwen3-Reranker's question per pair and scores P(yes) / (P(yes) + P(no))", async () => {
    const scorer = tableScorer((p) =>
      p.user.includes('Berlin has') ? [0.375, 0.125] : p.user.includes('Paris') ? [0, 0] : [0.1, 0.3],
    );
    const r = createLocalLlmReranker(scorer, { maxDocumentChars: 40 });
    assert.equal(r.provider, 'llm-yes-no');
    assert.equal(r.scoreKind, 'probability');
    const docs = ['Stock markets fell.', 'Berlin has 3.5 million people and a very long tail of text after it', 'Paris.'];
    const out = await r.rerank('How many people live in Berlin?', docs);
    assert.deepEqual(out, [
      { index: 1, score: 0.75 },
      { index: 2, score: 0.5 }, // neither answer seen: no evidence either way
      { index: 0, score: 0.25 },
    ]);
    const [first] = scorer.asked;
    assert.match(first!.system!, /^Judge whether the Document meets the requirements/);
    assert.equal(
      first!.user,
      '<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n' +
        '<Query>: How many people live in Berlin?\n<Document>: Stock markets fell.',
    );
    assert.ok(scorer.asked[1]!.user.endsWith(`<Document>: ${docs[1]!.slice(0, 40)}`), 'cut at 40 chars');
    assert.deepEqual(await r.rerank('q', docs, { topN: 1 }), [{ index: 1, score: 0.75 }]);
    await assert.rejects(r.rerank('', docs), ConnectorError);
    assert.deepEqual(await r.rerank('q', []), []);
    assert.throws(() => createLocalLlmReranker(scorer, { maxDocumentChars: 0 }), /maxDocumentChars/);
  });

  it('runs the local GGUF (SmolLM2-135M-Instruct): probabilities, the same score wherever a document sits', async () => {
    const scorer = await createLlamaLocalScorer(await ensureLocalLlm());
    const r = createLocalLlmReranker(scorer);
    try {
      const docs = [
        'Berlin has a population of 3,520,031 registered inhabitants.',
        'The recipe needs two eggs, a cup of flour and some milk.',
      ];
      const a = await r.rerank('How many people live in Berlin?', docs);
      const b = await r.rerank('How many people live in Berlin?', [...docs].reverse());
      assert.equal(a.length, 2);
      for (const x of a) {
        assert.ok(x.score > 0 && x.score < 1, `probability ${x.score}`);
        const twin = b.find((y) => y.index === 1 - x.index)!;
        assert.ok(Math.abs(twin.score - x.score) < 1e-6);
      }
      assert.equal(scorer.stats.calls, 4, 'one model pass per pair');
    } finally {
      await r.close();
    }
  });
});
