import type { Embedder } from './embedder.ts';

interface Pending {
  texts: string[];
  resolve: (v: Float32Array[]) => void;
  reject: (e: unknown) => void;
}

export interface MicroBatchOptions {
  /** Most texts handed to the model in one call. Default 256. */
  maxBatchTexts?: number;
  /** How long the first request of an idle batcher waits for company. Default 2 ms. */
  maxWaitMs?: number;
}

/**
 * Coalesces concurrent `embedDocuments` calls of one process (many small documents' activities) into model-sized
 * batches, one model call at a time: the same cross-request batching an embedding server does. While the model
 * works, new requests queue up and form the next batch.
 */
export function withMicroBatching<E extends Embedder>(inner: E, opts: MicroBatchOptions = {}): E {
  const maxTexts = opts.maxBatchTexts ?? 256;
  const maxWait = opts.maxWaitMs ?? 2;
  const queue: Pending[] = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    try {
      await new Promise((r) => setTimeout(r, maxWait));
      while (queue.length > 0) {
        const batch: Pending[] = [queue.shift()!];
        let n = batch[0]!.texts.length;
        while (queue.length > 0 && n + queue[0]!.texts.length <= maxTexts) {
          n += queue[0]!.texts.length;
          batch.push(queue.shift()!);
        }
        try {
          const vectors = await inner.embedDocuments(batch.flatMap((p) => p.texts));
          let at = 0;
          for (const p of batch) {
            p.resolve(vectors.slice(at, at + p.texts.length));
            at += p.texts.length;
          }
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      running = false;
    }
  }

  const batched = Object.create(inner) as E;
  batched.embedDocuments = (texts: string[]) =>
    new Promise<Float32Array[]>((resolve, reject) => {
      if (texts.length === 0) return resolve([]);
      queue.push({ texts, resolve, reject });
      if (!running) void drain();
    });
  return batched;
}
