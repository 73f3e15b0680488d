import type { Readable } from 'node:stream';

/** Limits applied while parsing; exceeding one is a DocumentTooLarge failure, never an out-of-memory crash. */
export interface ParseLimits {
  /** Largest source object accepted, in bytes. Default 256 MiB. */
  maxBytes: number;
  /** Largest extracted text, in UTF-16 code units. Default 256 Mi. */
  maxChars: number;
  /** Largest total size unpacked from a DOCX container, and of the streams a PDF decodes, in bytes. Default 256 MiB. */
  maxDecompressedBytes: number;
  /** Largest PDF page count. Default 5,000. */
  maxPages: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxBytes: 256 * 1024 * 1024,
  maxChars: 256 * 1024 * 1024,
  maxDecompressedBytes: 256 * 1024 * 1024,
  maxPages: 5000,
};

export interface ParseInput {
  /** The object's bytes, streamed. */
  body: Readable;
  /** Used with the content type and the leading bytes to pick a format. */
  filename: string;
  contentType?: string;
  /** Size when the source knows it (lets a too-large object fail before reading it). */
  size?: number;
}

export interface ParsedMeta {
  format: ParsedFormat;
  title?: string;
  pages?: number;
}

export const ParsedFormat = {
  text: 'text',
  markdown: 'markdown',
  html: 'html',
  pdf: 'pdf',
  docx: 'docx',
} as const;
export type ParsedFormat = (typeof ParsedFormat)[keyof typeof ParsedFormat];

/**
 * A parsed document as a stream of text pieces (their concatenation is the document's text) plus metadata known
 * once the stream ends. Streaming keeps a 200 MB text file from ever being one string in memory.
 */
export interface ParsedStream {
  text: AsyncIterable<string>;
  /** Resolves after `text` is fully consumed. */
  meta: Promise<ParsedMeta>;
}
