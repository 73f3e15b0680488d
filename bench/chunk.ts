// `npm run bench:chunk -- --json [--corpus FILE] [--runs N]`: chunking throughput on one prose corpus (bench/corpus.ts
// builds the default one from pinned Debian packages). One JSON line per (implementation, chunker, size):
//  - character-sized chunks (4096 and 512 UTF-16 units, no overlap; LangChain's and chonkie's default length) for ours
//    and the two JS peers, LangChain's RecursiveCharacterTextSplitter and chonkie's RecursiveChunker;
//  - token-sized chunks under the embedding model's own tokenizer (our chunkers only), with tokens/s as well;
//  - last, `{ "ratio_vs_best_peer": { "4096": x, "512": y } }` for our recursive chunker.
// Each figure is the median of --runs timed runs after one warm-up run; MB are UTF-8 megabytes (10^6 bytes) of input.
// Ours is fed the text in 1 MiB pieces, as the chunk activity streams a parsed document; the peers take one string.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RecursiveChunker } from '@chonkiejs/core';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { createCharCounter } from '../connectors/chunkers/char-counter.ts';
import type { Chunker, TokenCounter } from '../connectors/chunkers/chunker.ts';
import { type ChunkerConfig, createChunker } from '../connectors/chunkers/index.ts';
import { loadTokenCounter } from '../connectors/embedders/local-onnx.ts';
import { defaultModelDir } from '../scripts/fetch-model.ts';
import { ensureCorpus } from './corpus.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    corpus: { type: 'string' },
    runs: { type: 'string', default: '5' },
    /** Timed runs of each token-sized line (each pass goes through the model's tokenizer: seconds, not milliseconds). */
    'token-runs': { type: 'string', default: '1' },
    /** Skip the token-sized lines (they need the model folder). */
    'chars-only': { type: 'boolean' },
  },
});
const runs = Math.max(1, Number(args.runs));
const CHAR_SIZES = [4096, 512] as const;
const TOKEN_SIZES = [512] as const;
/** The token-sized lines warm up on this prefix: it fills the tokenizer's word cache and JITs the code. */
const TOKEN_WARMUP_CHARS = 2_000_000;
const PIECE = 1 << 20;

const corpus = args.corpus ? { path: args.corpus, sha256: undefined } : ensureCorpus();
const text = readFileSync(corpus.path, 'utf8');
const mb = Buffer.byteLength(text, 'utf8') / 1e6;

async function* pieces(limit = text.length): AsyncGenerator<string> {
  for (let i = 0; i < limit; i += PIECE) yield text.slice(i, Math.min(limit, i + PIECE));
}

interface Result {
  seconds: number;
  chunks: number;
  tokens: number;
}

async function timed(fn: (limit?: number) => Promise<Omit<Result, 'seconds'>>, n = runs, warmup = text.length): Promise<Result> {
  await fn(warmup); // warm-up: JIT and caches (the tokenizer's word cache among them)
  const results: Result[] = [];
  for (let r = 0; r < n; r++) {
    const t0 = performance.now();
    const out = await fn();
    results.push({ ...out, seconds: (performance.now() - t0) / 1000 });
  }
  results.sort((a, b) => a.seconds - b.seconds);
  return results[Math.floor(results.length / 2)]!;
}

async function runOurs(chunker: Chunker, limit?: number): Promise<Omit<Result, 'seconds'>> {
  let chunks = 0;
  let tokens = 0;
  for await (const c of chunker.chunk(pieces(limit))) {
    chunks++;
    tokens += c.tokens;
  }
  return { chunks, tokens };
}

const lines: Record<string, unknown>[] = [];
function report(line: Record<string, unknown>): void {
  lines.push(line);
  console.log(args.json ? JSON.stringify(line) : Object.values(line).join('\t'));
}
const round = (x: number) => Math.round(x * 10) / 10;

const best = new Map<number, { ours: number; peer: number }>();
const chars = createCharCounter();
for (const size of CHAR_SIZES) {
  const ours = await timed(() => runOurs(createChunker({ kind: 'recursive', chunkSize: size, chunkOverlap: 0 }, chars, {})));
  const langchain = await timed(async () => {
    const splitter = new RecursiveCharacterTextSplitter({ chunkSize: size, chunkOverlap: 0 });
    return { chunks: (await splitter.splitText(text)).length, tokens: 0 };
  });
  const chonkieChunker = await RecursiveChunker.create({ chunkSize: size });
  const chonkie = await timed(async () => ({ chunks: (await chonkieChunker.chunk(text)).length, tokens: 0 }));
  const rows = [
    ['ragline', ours],
    ['langchain', langchain],
    ['chonkie', chonkie],
  ] as const;
  for (const [impl, r] of rows) {
    report({ impl, chunker: 'recursive', size, unit: 'chars', mb_per_s: round(mb / r.seconds), chunks: r.chunks });
  }
  best.set(size, { ours: mb / ours.seconds, peer: Math.max(mb / langchain.seconds, mb / chonkie.seconds) });
}

if (!args['chars-only']) {
  let counter: TokenCounter | undefined;
  try {
    counter = await loadTokenCounter(defaultModelDir());
  } catch (err) {
    console.error(`bench:chunk: no model tokenizer (${(err as Error).message}); token-sized lines skipped`);
  }
  if (counter) {
    for (const size of TOKEN_SIZES) {
      const configs: ChunkerConfig[] = [
        { kind: 'recursive', chunkSize: size, chunkOverlap: 0 },
        { kind: 'recursive', chunkSize: size, chunkOverlap: size / 8 },
        { kind: 'fixed', chunkSize: size, chunkOverlap: size / 8 },
        { kind: 'sentence', chunkSize: size, chunkOverlap: 0 },
        { kind: 'markdown', chunkSize: size, chunkOverlap: 0 },
      ];
      for (const config of configs) {
        const r = await timed(
          (limit) => runOurs(createChunker(config, counter, {}), limit),
          Math.max(1, Number(args['token-runs'])),
          TOKEN_WARMUP_CHARS,
        );
        report({
          impl: 'ragline',
          chunker: config.kind,
          size,
          unit: counter.name,
          overlap: 'chunkOverlap' in config ? config.chunkOverlap : 0,
          mb_per_s: round(mb / r.seconds),
          // Tokens in the chunks (overlaps counted again) per second.
          tokens_per_s: Math.round(r.tokens / r.seconds),
          chunks: r.chunks,
        });
      }
    }
  }
}

const ratio = (size: number) => Math.round((best.get(size)!.ours / best.get(size)!.peer) * 100) / 100;
report({ ratio_vs_best_peer: { 4096: ratio(4096), 512: ratio(512) }, corpus_mb: round(mb), corpus_sha256: corpus.sha256 });
