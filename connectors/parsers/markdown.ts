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

// Every pattern here runs on up to TITLE_WINDOW characters of untrusted text, so none may backtrack over a line: a
// lazy capture followed by `[ \t]*$` retries that whitespace scan at every character (quadratic; a 64 KB heading
// of spaced-out words took ~8 s), so captures take the whole line greedily and the ends are trimmed by hand.
const FRONT_MATTER = /^---\r?\n([\s\S]*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/;
const TITLE_KEY = /^title:(.+)$/m;
// `(?!`)` stops a fence line without a newline after it from backtracking through its own backticks.
const FENCED_BLOCK = /^ {0,3}(`{3,}(?!`)|~{3,}(?!~))[^\n]*\n[\s\S]*?(?:^ {0,3}\1[ \t]*$|(?![\s\S]))/gm;
const H1 = /^ {0,3}#[ \t]+(.+)$/m;

export function markdownTitle(text: string): string | undefined {
  const frontMatter = FRONT_MATTER.exec(text);
  const key = frontMatter && TITLE_KEY.exec(frontMatter[1] as string)?.[1];
  if (key)
    return (
      trimSpaceTab(key)
        .replace(/^(["'])(.*)\1$/, '$2')
        .trim() || undefined
    );
  // A "# comment" inside a fenced code block is not a heading.
  const prose = text.replace(FENCED_BLOCK, '');
  const heading = H1.exec(prose)?.[1];
  return heading ? stripClosingHashes(trimSpaceTab(heading)).trim() || undefined : undefined;
}

function isSpaceTab(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function trimSpaceTab(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpaceTab(s.charCodeAt(a))) a++;
  while (b > a && isSpaceTab(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/** "Title ##" → "Title": an ATX heading's optional closing run of '#', which must follow a space or tab. */
function stripClosingHashes(s: string): string {
  let i = s.length;
  while (i > 0 && s.charCodeAt(i - 1) === 0x23) i--;
  let j = i;
  while (j > 0 && isSpaceTab(s.charCodeAt(j - 1))) j--;
  return i < s.length && j < i && j > 0 ? s.slice(0, j) : s;
}
