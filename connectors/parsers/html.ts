import { Parser, type ParserOptions } from 'htmlparser2';
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
/** Nesting past this depth is tracked by DepthCappedParser rather than by htmlparser2 (browsers stop at 512 too). */
export const MAX_PARSER_DEPTH = 512;

/**
 * Turns HTML into readable text while it streams in: htmlparser2 is fed decoded pieces and its events build the
 * output, which is handed on after every piece, so neither the markup nor the text is ever held whole.
 */
export async function* parseHtml(
  source: ByteSource,
  encoding: TextEncodingChoice,
): AsyncGenerator<string, { title?: string }, undefined> {
  const out = new HtmlText();
  const parser = new DepthCappedParser(out, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true });
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
 * htmlparser2's Parser keeps the open elements in an array it unshifts at every start tag, shifts at every end and
 * searches for every end tag's name, so n levels of nesting cost O(n²) ('<div>'.repeat(50_000) took 0.6 s, and each
 * end tag matching nothing scans the whole stack). Past MAX_PARSER_DEPTH the parser is told, through isVoidElement
 * (its hook for that), that an element is void, so it never grows its stack; the element is kept here instead,
 * innermost last, with a count per name so that an end tag finds it in O(1). Closing one also closes those opened
 * inside it, and an end tag for an element below the deep ones closes them all first, as the parser does, so the
 * handler sees one close for every open either way. Not reproduced past the cap: end tags implied by a start tag (a
 * <p> closed by a <div>), which only move a line break.
 */
class DepthCappedParser extends Parser {
  readonly #handler: HtmlText;
  /** Elements opened past MAX_PARSER_DEPTH, innermost last. */
  readonly #deep: string[] = [];
  readonly #deepCount = new Map<string, number>();
  /** The parser's first isVoidElement question in a start tag is "may I push it?", in an end tag "is it void?". */
  #asking: 'start' | 'end' | null = null;
  /** The start tag being read was kept here rather than on the parser's stack. */
  #startedDeep: string | null = null;

  constructor(handler: HtmlText, options: ParserOptions) {
    super(handler, options);
    this.#handler = handler;
  }

  /** htmlparser2's stack, innermost first (private in its types); only read, and never longer than the cap. */
  get #stack(): readonly string[] {
    return (this as unknown as { stack: readonly string[] }).stack;
  }

  override onopentagname(start: number, endIndex: number): void {
    this.#asking = 'start';
    this.#startedDeep = null;
    super.onopentagname(start, endIndex);
    this.#asking = null;
    if (this.#startedDeep !== null) {
      this.#deep.push(this.#startedDeep);
      this.#deepCount.set(this.#startedDeep, (this.#deepCount.get(this.#startedDeep) ?? 0) + 1);
    }
  }

  override onselfclosingtag(endIndex: number): void {
    const deep = this.#startedDeep;
    this.#startedDeep = null;
    // In SVG and MathML "<x/>" closes x; the parser would look for it on its own stack.
    if (deep === null || !this.isInForeignContext()) return super.onselfclosingtag(endIndex);
    super.onopentagend(endIndex);
    this.#closeDeep(deep);
  }

  override onclosetag(start: number, endIndex: number): void {
    this.#asking = 'end';
    super.onclosetag(start, endIndex);
    this.#asking = null;
  }

  override onend(): void {
    this.#closeDeep(null);
    super.onend();
  }

  protected override isVoidElement(name: string): boolean {
    const isVoid = super.isVoidElement(name);
    const asking = this.#asking;
    this.#asking = null;
    if (asking === 'start' && !isVoid && (this.#deep.length > 0 || this.#stack.length >= MAX_PARSER_DEPTH)) {
      this.#startedDeep = name;
      return true;
    }
    if (asking === 'end' && this.#deep.length > 0) {
      if (this.#deepCount.get(name)) {
        this.#closeDeep(name);
        return true;
      }
      if (this.#stack.includes(name)) this.#closeDeep(null);
    }
    return isVoid;
  }

  /** Closes deep elements, innermost first, up to and including `name` (all of them for null). */
  #closeDeep(name: string | null): void {
    for (let el = this.#deep.pop(); el !== undefined; el = this.#deep.pop()) {
      this.#deepCount.set(el, this.#deepCount.get(el)! - 1);
      this.#handler.onclosetag(el);
      if (el === name) return;
    }
  }
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
