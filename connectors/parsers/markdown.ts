import type { ByteSource } from './bytes.ts';
import { decodeText, type TextEncodingChoice } from './decode.ts';

/** How much of the start of a document is searched for its title. */
const TITLE_WINDOW = 64 * 1024;

/**
 * Markdown stays Markdown: chunkers split on its headings and fences, so the source is passed on exactly as decoded
 * (TextDecoder drops a byte order mark; nothing else changes). The title is the front matter's `title:` or the first
 * level-1 heading near the top.
 */
export async function* parseMarkdown(
  source: ByteSource,
  encoding: TextEncodingChoice,
): AsyncGenerator<string, { title?: string }, undefined> {
  let start = '';
  let title: string | undefined;
  let searched = false;
  for await (const piece of decodeText(source.chunks(), encoding, source.filename)) {
    if (!searched) {
      start += piece;
      if (start.length >= TITLE_WINDOW) {
        title = markdownTitle(start.slice(0, TITLE_WINDOW));
        searched = true;
        start = '';
      }
    }
    yield piece;
  }
  if (!searched) title = markdownTitle(start);
  return title ? { title } : {};
}

export function markdownTitle(text: string): string | undefined {
  const frontMatter = /^---\r?\n([\s\S]*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/.exec(text);
  const declared = frontMatter && /^title:[ \t]*(.+?)[ \t]*$/m.exec(frontMatter[1] as string)?.[1];
  if (declared) return declared.replace(/^(["'])(.*)\1$/, '$2').trim() || undefined;
  // A "# comment" inside a fenced code block is not a heading.
  const prose = text.replace(/^ {0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:^ {0,3}\1[ \t]*$|(?![\s\S]))/gm, '');
  const heading = /^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$/m.exec(prose)?.[1];
  return heading?.trim() || undefined;
}
