import { heartbeat } from './heartbeat.ts';
import { chunkId, sha256Hex } from '../pipeline/ids.ts';
import type { PipelineRef } from '../workflows/types.ts';
import type { PipelineDeps } from './deps.ts';
import type { ChunkLine } from './work.ts';

/**
 * Streams text through the pipeline's chunker into a JSONL file of chunks with their ids, spans and content hashes.
 * Memory stays bounded by the chunker's window whatever the document's size.
 */
export async function writeChunks(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; key: string; text: AsyncIterable<string> },
): Promise<{ chunks: number; tokens: number }> {
  const { pipeline, sourceUri } = input;
  const chunker = deps.chunker;
  let chunks = 0;
  let tokens = 0;
  async function* lines(): AsyncGenerator<string> {
    for await (const c of chunker.chunk(input.text)) {
      const line: ChunkLine = {
        i: c.index,
        id: chunkId({
          tenant: pipeline.tenant,
          sourceUri,
          index: c.index,
          chunkerSpec: chunker.spec,
          pipelineVersion: String(pipeline.version),
        }),
        start: c.start,
        end: c.end,
        tokens: c.tokens,
        hash: sha256Hex(c.text),
        text: c.text,
      };
      if (c.headings && c.headings.length > 0) line.headings = c.headings;
      chunks++;
      tokens += c.tokens;
      if (chunks % 1000 === 0) heartbeat({ chunks });
      yield JSON.stringify(line) + '\n';
    }
  }
  await deps.blobs.put(input.key, lines());
  return { chunks, tokens };
}
