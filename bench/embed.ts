// `npm run bench:embed -- --json [--texts N] [--rounds R] [--max-batch-tokens T] [--threads K]`: the local CPU embedder
// (tokenizing, batching, tensor building, pooling, normalising) against onnxruntime's own session.run over the very
// same padded token batches, prepared before timing. Both sessions are created alike and measured in the same process,
// alternately (ABBA order, so drift and a noisy neighbour hit both sides alike), after a warm-up run of each; rates
// are medians. `ratio` = embedder tokens/s over raw tokens/s, as the median over back-to-back pairs on the same texts:
// what the embedder's own work costs on top of the model.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from 'tokenizers';
import { formatDocument, getModel } from '../connectors/embedders/catalog.ts';
import { createLocalOnnxEmbedder, LocalOnnxConfig, onnxSessionOptions, planBatches } from '../connectors/embedders/local-onnx.ts';
import { readManifest } from '../connectors/embedders/model-files.ts';
import { ensureModel } from '../scripts/fetch-model.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    texts: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '5' },
    // Texts per embedDocuments call; the two sides alternate per group, so a burst of load hits both alike.
    group: { type: 'string', default: '8' },
    // The pipeline spec's defaults for the local model (pipeline/spec.ts): 1,024 padded tokens per run.
    'max-batch-tokens': { type: 'string', default: '512' },
    threads: { type: 'string', default: '0' },
    // onnxruntime's busy-waiting threads (off by default in the embedder); both sessions get the same setting.
    spin: { type: 'boolean', default: false },
  },
});
const nTexts = Number(args.texts);
const rounds = Number(args.rounds);
const maxBatchTokens = Number(args['max-batch-tokens']);
const threads = Number(args.threads);
const groupSize = Number(args.group);
for (const [k, v] of Object.entries({ texts: nTexts, rounds, maxBatchTokens, group: groupSize })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}

/** Chunk-like texts of 1 to 12 sentences from the sample corpus, in a fixed pseudo-random order. */
function corpus(n: number): string[] {
  const dir = join(import.meta.dirname, '..', 'samples', 'corpus');
  const sentences = readdirSync(dir)
    .filter((f) => /\.(md|txt)$/.test(f))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split(/(?<=\.)\s+/))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length > 20);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, () =>
    Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => sentences[Math.floor(rnd() * sentences.length)]).join(' '),
  );
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const modelDir = await ensureModel();
const manifest = await readManifest(modelDir);
const entry = getModel(manifest.hfId);
const texts = corpus(nTexts);
const config = LocalOnnxConfig.parse({ modelDir, maxBatchTokens, threads, spin: args.spin });
const embedder = await createLocalOnnxEmbedder(config);

// The raw side: the same tokenizer settings, formats and batch plan as the embedder, all done before timing.
const tokenizer = Tokenizer.fromFile(join(modelDir, manifest.tokenizerFile));
tokenizer.setTruncation(manifest.maxTokens);
tokenizer.disablePadding();
const seqs = (await tokenizer.encodeBatch(texts.map((t) => formatDocument(entry, t)))).map((e) => e.getIds());
const tokens = seqs.reduce((n, s) => n + s.length, 0);
const session = await ort.InferenceSession.create(join(modelDir, manifest.onnxFile), onnxSessionOptions(config));
const output = session.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : session.outputNames[0]!;
/** The padded batches the embedder will run for one embedDocuments call over `group` (texts by index). */
function feedsFor(group: number[]): Record<string, ort.Tensor>[] {
  return planBatches(
    group.map((k) => seqs[k]!.length),
    maxBatchTokens,
  ).map(({ members, len }) => {
    const shape = [members.length, len];
    const ids = new BigInt64Array(members.length * len);
    const mask = new BigInt64Array(members.length * len);
    members.forEach((m, b) =>
      seqs[group[m]!]!.forEach((id, t) => {
        ids[b * len + t] = BigInt(id);
        mask[b * len + t] = 1n;
      }),
    );
    const all: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, shape),
      attention_mask: new ort.Tensor('int64', mask, shape),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(members.length * len), shape),
    };
    return Object.fromEntries(session.inputNames.map((n) => [n, all[n]!]));
  });
}
const groups = Array.from({ length: Math.ceil(texts.length / groupSize) }, (_, g) =>
  Array.from(texts.keys()).slice(g * groupSize, (g + 1) * groupSize),
);
const work = groups.map((g) => ({ texts: g.map((k) => texts[k]!), feeds: feedsFor(g) }));
const runs = work.reduce((n, w) => n + w.feeds.length, 0);

async function timeEmbedder(w: (typeof work)[number]): Promise<number> {
  const t0 = performance.now();
  const vectors = await embedder.embedDocuments(w.texts);
  const s = performance.now() - t0;
  if (vectors.length !== w.texts.length) throw new Error('the embedder lost inputs');
  return s;
}
async function timeRaw(w: (typeof work)[number]): Promise<number> {
  const t0 = performance.now();
  for (const f of w.feeds) (await session.run(f, [output]))[output]!.dispose();
  return performance.now() - t0;
}

/**
 * One pass over every group, the two sides back to back on each group in alternating order (ABBA). Returns each
 * side's summed milliseconds and, per group, raw time over embedder time: a pair measured a second apart sees the
 * same machine load, which on a shared machine swings far more than the difference being measured.
 */
async function round(): Promise<{ embed: number; raw: number; pairs: number[] }> {
  let embed = 0;
  let raw = 0;
  const pairs: number[] = [];
  for (const [i, w] of work.entries()) {
    let e: number;
    let r: number;
    if (i % 2 === 0) {
      e = await timeEmbedder(w);
      r = await timeRaw(w);
    } else {
      r = await timeRaw(w);
      e = await timeEmbedder(w);
    }
    embed += e;
    raw += r;
    pairs.push(r / e);
  }
  return { embed, raw, pairs };
}

await round();
const embedRates: number[] = [];
const rawRates: number[] = [];
const pairRatios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const t = await round();
  embedRates.push((tokens * 1000) / t.embed);
  rawRates.push((tokens * 1000) / t.raw);
  pairRatios.push(...t.pairs);
}
await embedder.close();
await session.release();

const tokensPerS = median(embedRates);
const rawTokensPerS = median(rawRates);
const result = {
  model: manifest.name,
  texts: texts.length,
  tokens,
  tokens_per_s: Math.round(tokensPerS),
  raw_tokens_per_s: Math.round(rawTokensPerS),
  // The median of the per-group paired ratios; with a steady load it equals tokens_per_s / raw_tokens_per_s.
  ratio: +median(pairRatios).toFixed(3),
};
if (args.json) console.log(JSON.stringify(result));
else {
  console.log(
    `${result.model}: ${result.texts} texts, ${result.tokens} tokens, ${runs} runs of <= ${maxBatchTokens} padded tokens`,
  );
  console.log(`embedder ${result.tokens_per_s} tokens/s, onnxruntime alone ${result.raw_tokens_per_s} tokens/s`);
  console.log(`ratio ${result.ratio} (median of ${pairRatios.length} back-to-back pairs; rates are medians of ${rounds} rounds)`);
}
