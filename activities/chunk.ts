import { Context } from '@temporalio/activity';
import type { Readable } from 'node:stream';
import { chunkId, sha256Hex } from '../pipeline/ids.ts';
import type { PipelineRef } from '../workflows/types.ts';
import type { PipelineDeps } from './deps.ts';
import type { ChunkLine, WorkRef } from './work.ts';

/** Chunks the parsed text (streamed) into a JSONL file of chunks with their ids, spans and content hashes. */
export async function chunkDocument(
  deps: PipelineDeps,
  input: { pipeline: PipelineRef; sourceUri: string; work: WorkRef },
): Promise<{ work: WorkRef; chunks: number; tokens: number }> {
  const { pipeline, sourceUri, work } = input;
  const ctx = Context.current();
  const chunksKey = `${work.prefix}/chunks.jsonl`;
  let count = 0;
  let tokens = 0;
  const text = decodeUtf8(await deps.blobs.get(work.parsedKey));
  const chunker = deps.chunker;
  async function* lines(): AsyncGenerator<string> {
    for await (const c of chunker.chunk(text)) {
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
      count++;
      tokens += c.tokens;
      if (count % 1000 === 0) ctx.heartbeat({ chunks: count });
      yield JSON.stringify(line) + '\n';
    }
  }
  await deps.blobs.put(chunksKey, lines());
  return { work: { ...work, chunksKey, chunks: count, tokens }, chunks: count, tokens };
}

async function* decodeUtf8(body: Readable): AsyncGenerator<string> {
  const dec = new TextDecoder('utf-8');
  for await (const piece of body) {
    const s = dec.decode(piece as Uint8Array, { stream: true });
    if (s) yield s;
  }
  const tail = dec.decode();
  if (tail) yield tail;
}
