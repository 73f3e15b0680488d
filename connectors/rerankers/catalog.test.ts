import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectorError } from '../shared/errors.ts';
import { buildYesNoPrompt, findReranker, getReranker, headScore, listRerankers, yesNoScore } from './catalog.ts';

// The literal string Qwen3-Reranker's model card builds (prefix + format_instruction(...) + suffix), typed out here
// rather than built from the catalog's constants: a changed character must fail this test.
const QWEN3_EXPECTED =
  '<|im_start|>system\n' +
  'Judge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be "yes" or "no".' +
  '<|im_end|>\n' +
  '<|im_start|>user\n' +
  '<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n' +
  '<Query>: What is the capital of China?\n' +
  '<Document>: The capital of China is Beijing.' +
  '<|im_end|>\n' +
  '<|im_start|>assistant\n' +
  '<think>\n\n</think>\n\n';

describe('reranker catalog', () => {
  it("builds Qwen3-Reranker's documented prompt exactly, for every size", () => {
    for (const size of ['0.6B', '4B', '8B']) {
      assert.equal(
        buildYesNoPrompt(`Qwen3-Reranker-${size}`, 'What is the capital of China?', 'The capital of China is Beijing.'),
        QWEN3_EXPECTED,
      );
    }
  });

  it('puts a custom instruction in the <Instruct> line and leaves braces in the texts alone', () => {
    const p = buildYesNoPrompt('Qwen/Qwen3-Reranker-0.6B', 'q {document}', 'd {query}', 'Find code that fixes the bug');
    assert.ok(p.includes('\n<Instruct>: Find code that fixes the bug\n<Query>: q {document}\n<Document>: d {query}<|im_end|>'));
  });

  it('refuses empty parts and models without a yes/no prompt', () => {
    assert.throws(() => buildYesNoPrompt('Qwen3-Reranker-4B', ' ', 'd'), ConnectorError);
    assert.throws(() => buildYesNoPrompt('Qwen3-Reranker-4B', 'q', 'd', ''), ConnectorError);
    assert.throws(() => buildYesNoPrompt('bge-reranker-base', 'q', 'd'), /not a yes\/no reranker/);
    assert.throws(() => getReranker('no-such-reranker'), /unknown reranker/);
  });

  it('scores P(yes) as the softmax over the yes and no logits', () => {
    assert.equal(yesNoScore(3, 3), 0.5);
    const [y, n] = [2.5, -1.25];
    const softmax = Math.exp(y) / (Math.exp(y) + Math.exp(n));
    assert.ok(Math.abs(yesNoScore(y, n) - softmax) < 1e-12);
    assert.ok(yesNoScore(800, -800) === 1 && yesNoScore(-800, 800) === 0, 'no overflow to NaN');
  });

  it('turns head logits into scores as the scoring says', () => {
    assert.ok(Math.abs(headScore({ type: 'sigmoid' }, [0]) - 0.5) < 1e-12);
    assert.ok(Math.abs(headScore({ type: 'softmax', positiveLabel: 1 }, [1, 1]) - 0.5) < 1e-12);
    assert.ok(headScore({ type: 'softmax', positiveLabel: 1 }, [1000, 1001]) > 0.73);
    assert.throws(() => headScore({ type: 'hosted' }, [1]), ConnectorError);
  });

  it('knows the named models by id and Hugging Face id, with kind and scoring', () => {
    for (const id of [
      'bge-reranker-base',
      'bge-reranker-large',
      'bge-reranker-v2-m3',
      'jina-reranker-v1-tiny-en',
      'jina-reranker-v1-turbo-en',
      'jina-reranker-v2-base-multilingual',
      'ms-marco-MiniLM-L-6-v2',
    ]) {
      const e = getReranker(id);
      assert.equal(e.kind, 'cross-encoder', id);
      assert.equal(e.scoring.type, 'sigmoid', id);
      assert.equal(findReranker(e.hfId!), e);
    }
    const q = getReranker('qwen3-reranker-8b');
    assert.equal(q.kind, 'llm-yes-no');
    assert.deepEqual(q.scoring, { type: 'yes-no', yes: 'yes', no: 'no' });
    const ids = listRerankers().map((e) => e.id.toLowerCase());
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  });
});
