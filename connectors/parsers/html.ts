import { Parser } from 'htmlparser2';
import type { ByteSource } from './bytes.ts';
import { decodeText, type TextEncodingChoice } from './decode.ts';

/** Elements whose content is never readable text. */
const SKIPPED = new Set(['script', 'style', 'noscript', 'template', 'head']);
/** Blocks that read as separate paragraphs: a blank line around them. */
const PARAGRAPH = new Set([
  'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'dl', 'table', 'blockquote', 'pre', 'section', 'article',
  'header', 'footer', 'nav', 'aside', 'main', 'figure', 'form', 'fieldset', 'details', 'address', 'hr',
]); // prettier-ignore
/** Blocks that start a new line. */
const LINE = new Set([
  'div', 'li', 'tr', 'dt', 'dd', 'caption', 'figcaption', 'summary', 'legend', 'option', 'thead', 'tbody', 'tfoot',
  'body', 'html', 'center', 'menu', 'dialog', 'search', 'hgroup',
]); // prettier-ignore
/** Table cells: inline, but never glued to the previous cell's text. */
const CELL = new Set(['td', 'th']);

const MAX_TITLE_CHARS = 1000;

/**
 * Turns HTML into readable text while it streams in: htmlparser2 is fed decoded pieces and its events build the
 * output, which is handed on after every piece, so neither the markup nor the text is ever held whole.
 */
export async function* parseHtml(
  source: ByteSource,
  encoding: TextEncodingChoice,
): AsyncGenerator<string, { title?: string }, undefined> {
  const out = new HtmlText();
  const parser = new Parser(out, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true });
  for await (const piece of decodeText(source.chunks(), encoding, source.filename)) {
    parser.write(piece);
    const text = out.take();
    if (text) yield text;
  }
  parser.end();
  const text = out.take();
  if (text) yield text;
  const title = out.title.replace(/[ \t\n\r\f]+/g, ' ').trim();
  return title ? { title: title.slice(0, MAX_TITLE_CHARS) } : {};
}

/**
 * htmlparser2 handler producing text the way a browser lays it out, roughly: whitespace inside inline text collapses
 * to one space (not inside <pre>), block boundaries become line breaks (at most one blank line), and nothing leads
 * or trails. Spaces and breaks are kept pending until the next visible text, so they never pile up at the edges.
 */
class HtmlText {
  title = '';
  #out: string[] = [];
  #skipDepth = 0;
  #preDepth = 0;
  #preStart = false;
  #inTitle = false;
  #hasOutput = false;
  #pendingBreaks = 0;
  #pendingSpace = false;

  take(): string {
    const text = this.#out.join('');
    this.#out = [];
    return text;
  }

  onopentag(name: string): void {
    if (SKIPPED.has(name)) this.#skipDepth++;
    else if (name === 'title') this.#inTitle = true;
    else if (name === 'br') this.#pendingBreaks = Math.min(this.#pendingBreaks + 1, 2);
    else if (name === 'pre') {
      this.#preDepth++;
      this.#preStart = true;
    }
    this.#block(name);
  }

  onclosetag(name: string): void {
    if (SKIPPED.has(name)) this.#skipDepth = Math.max(0, this.#skipDepth - 1);
    else if (name === 'title') this.#inTitle = false;
    else if (name === 'pre') this.#preDepth = Math.max(0, this.#preDepth - 1);
    this.#block(name);
  }

  ontext(data: string): void {
    if (this.#inTitle) {
      if (this.title.length < MAX_TITLE_CHARS * 2) this.title += data;
      return;
    }
    if (this.#skipDepth > 0) return;
    if (this.#preDepth > 0) {
      // As in browsers, a newline straight after <pre> is not content.
      const raw = this.#preStart ? data.replace(/^\r?\n/, '') : data;
      this.#preStart = false;
      if (raw) this.#emit(raw);
      return;
    }
    // HTML's collapsible whitespace is ASCII only: a no-break space (&nbsp;) stays.
    const collapsed = data.replace(/[ \t\n\r\f]+/g, ' ');
    if (collapsed === ' ') {
      this.#pendingSpace = true;
      return;
    }
    const start = collapsed.startsWith(' ') ? 1 : 0;
    const end = collapsed.endsWith(' ') ? collapsed.length - 1 : collapsed.length;
    if (start) this.#pendingSpace = true;
    this.#emit(collapsed.slice(start, end));
    this.#pendingSpace = end < collapsed.length;
  }

  #block(name: string): void {
    if (PARAGRAPH.has(name)) this.#pendingBreaks = 2;
    else if (LINE.has(name)) this.#pendingBreaks = Math.max(this.#pendingBreaks, 1);
    else if (CELL.has(name)) this.#pendingSpace = true;
  }

  #emit(text: string): void {
    if (this.#hasOutput) {
      if (this.#pendingBreaks > 0) this.#out.push(this.#pendingBreaks > 1 ? '\n\n' : '\n');
      else if (this.#pendingSpace) this.#out.push(' ');
    }
    this.#pendingBreaks = 0;
    this.#pendingSpace = false;
    this.#hasOutput = true;
    this.#out.push(text);
  }
}
