// Messages between the PDF extractor (pdf.ts) and its thread (pdf-thread.ts).

// The legacy build is the one that runs on Node without browser globals.
export const PDFJS_MODULE = 'pdfjs-dist/legacy/build/pdf.mjs';

export interface PdfThreadInput {
  /** The whole file; transferred, not copied. */
  data: Uint8Array;
  maxPages: number;
  standardFontDataUrl: string;
  cMapUrl: string;
}

export type PdfThreadMessage =
  /** `title` is absent when the page count is over maxPages: the thread stops there. */
  | { type: 'open'; pages: number; title?: string }
  /** One page's text, trailing whitespace trimmed; empty for a blank or image-only page. */
  | { type: 'page'; text: string }
  | { type: 'done' }
  | { type: 'error'; stage: 'open' | 'page' | 'internal'; page?: number; name?: string; message: string };

export type PdfThreadRequest =
  /** Parse this document (its bytes transferred with the message); pages wait for credit. */
  | { type: 'parse'; input: PdfThreadInput }
  /** The reader can take this many more pages. */
  | { type: 'credit'; pages: number };
