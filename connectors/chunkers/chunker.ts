/** One chunk: `text === documentText.slice(start, end)` (UTF-16 indices into the parsed text). */
export interface Chunk {
  index: number;
  start: number;
  end: number;
  text: string;
  /** Token count under the chunker's tokenizer. */
  tokens: number;
  /** Heading path of the section the chunk sits in, outermost first (Markdown-aware chunking only). */
  headings?: string[];
}

/**
 * Splits text into chunks. Streaming: text arrives in pieces of any size, chunks leave as soon as they are final,
 * and memory stays bounded by the chunk size, not the document size.
 */
export interface Chunker {
  /** Stable description of the strategy and its parameters; it enters every chunk id, so changing it re-chunks. */
  readonly spec: string;
  chunk(text: AsyncIterable<string>): AsyncIterable<Chunk>;
}

/** Counts tokens of the embedding model's own tokenizer. */
export interface TokenCounter {
  readonly name: string;
  count(text: string): number;
}
