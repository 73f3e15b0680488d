import { createHashEmbedder } from '../embedders/hash.ts';
import { chunkerContract } from './chunker.contract.ts';
import { createChunker } from './index.ts';
import { createWhitespaceTokenCounter } from './whitespace-counter.ts';

// Every chunker the factory builds keeps the shared contract, with small sizes so that random texts exercise the
// oversized paths (sentences, blocks and words longer than a chunk).
const counter = createWhitespaceTokenCounter();
const hash = createHashEmbedder({ dims: 64 });
const deps = { embed: (texts: string[]) => hash.embedDocuments(texts), embedderId: hash.identity };

chunkerContract({
  name: 'recursive',
  counter,
  limit: 24,
  overlapping: true,
  make: (t) => createChunker({ kind: 'recursive', chunkSize: 24, chunkOverlap: 6 }, counter, {}, t),
});
chunkerContract({
  name: 'fixed',
  counter,
  limit: 24,
  overlapping: true,
  make: (t) => createChunker({ kind: 'fixed', chunkSize: 24, chunkOverlap: 6 }, counter, {}, t),
});
chunkerContract({
  name: 'fixed (tight char cap)',
  counter,
  limit: 16,
  overlapping: true,
  make: (t) => createChunker({ kind: 'fixed', chunkSize: 16, chunkOverlap: 4, maxChunkChars: 40 }, counter, {}, t),
});
chunkerContract({
  name: 'sentence',
  counter,
  limit: 24,
  make: (t) => createChunker({ kind: 'sentence', chunkSize: 24 }, counter, {}, t),
});
chunkerContract({
  name: 'sentence (overlap)',
  counter,
  limit: 24,
  overlapping: true,
  make: (t) => createChunker({ kind: 'sentence', chunkSize: 24, chunkOverlap: 8 }, counter, {}, t),
});
chunkerContract({
  name: 'markdown',
  counter,
  limit: 24,
  make: (t) => createChunker({ kind: 'markdown', chunkSize: 24 }, counter, {}, t),
});
chunkerContract({
  name: 'markdown (tight char cap)',
  counter,
  limit: 16,
  make: (t) => createChunker({ kind: 'markdown', chunkSize: 16, maxChunkChars: 40 }, counter, {}, t),
});
chunkerContract({
  name: 'semantic',
  counter,
  limit: 24,
  make: (t) => createChunker({ kind: 'semantic', chunkSize: 24, window: 8 }, counter, deps, t),
});
