import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deriveRerankerManifest } from './model-files.ts';

async function folder(config: object, tokenizerConfig?: object): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ragline-ce-manifest-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  if (tokenizerConfig) await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  return dir;
}

describe('deriveRerankerManifest', () => {
  const derive = (dir: string) => deriveRerankerManifest(dir, { name: 'm', hfId: 'org/m', files: {} });

  it('reads a BERT cross-encoder: one label, sigmoid, the position table as the window', async () => {
    const dir = await folder({ model_type: 'bert', max_position_embeddings: 512, id2label: { 0: 'LABEL_0' } });
    try {
      const m = await derive(dir);
      assert.deepEqual([m.maxTokens, m.scoring], [512, 'sigmoid']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('reads an XLM-RoBERTa reranker: 514 positions hold 512 tokens; a saved Identity activation means raw logits', async () => {
    const dir = await folder(
      {
        model_type: 'xlm-roberta',
        max_position_embeddings: 514,
        num_labels: 1,
        sentence_transformers: { activation_fn: 'torch.nn.modules.linear.Identity' },
      },
      { model_max_length: 1000000000000000019884624838656 },
    );
    try {
      const m = await derive(dir);
      assert.deepEqual([m.maxTokens, m.scoring], [512, 'none']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('two labels: softmax, label 1; a tokenizer window below the table wins', async () => {
    const dir = await folder({ model_type: 'bert', max_position_embeddings: 512, num_labels: 2 }, { model_max_length: 256 });
    try {
      const m = await derive(dir);
      assert.deepEqual([m.maxTokens, m.scoring, m.positiveLabel], [256, 'softmax', 1]);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
