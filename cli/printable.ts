/**
 * Text from documents, uris and error messages as a terminal may show it: control characters (ESC sequences, BEL,
 * backspace, C1 controls, bidi overrides) are written as `\u{..}` escapes instead of being interpreted.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}
