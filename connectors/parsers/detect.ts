/** How many leading bytes format detection looks at (also the window of the "is this binary?" check). */
export const SNIFF_BYTES = 8 * 1024;

/** Binary formats recognised by their leading bytes only to name them in an UnsupportedFormat message. */
const MAGIC: ReadonlyArray<{ bytes: readonly number[]; at?: number; name: string; textual?: boolean }> = [
  { bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], name: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], name: 'a JPEG image' },
  { bytes: [...'GIF8'].map((c) => c.charCodeAt(0)), name: 'a GIF image' },
  { bytes: [...'RIFF'].map((c) => c.charCodeAt(0)), name: 'a RIFF media file (WAV, AVI or WebP)' },
  { bytes: [0x66, 0x74, 0x79, 0x70], at: 4, name: 'an MP4/QuickTime/HEIF media file' },
  { bytes: [...'ID3'].map((c) => c.charCodeAt(0)), name: 'an MP3 audio file' },
  { bytes: [...'MZ'].map((c) => c.charCodeAt(0)), name: 'a Windows executable (MZ header)' },
  { bytes: [0x7f, 0x45, 0x4c, 0x46], name: 'an ELF executable' },
  { bytes: [0xcf, 0xfa, 0xed, 0xfe], name: 'a Mach-O executable' },
  { bytes: [0x00, 0x61, 0x73, 0x6d], name: 'a WebAssembly module' },
  { bytes: [0x1f, 0x8b], name: 'a gzip archive' },
  { bytes: [...'BZh'].map((c) => c.charCodeAt(0)), name: 'a bzip2 archive' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], name: 'an xz archive' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], name: 'a zstd archive' },
  { bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], name: 'a 7-Zip archive' },
  { bytes: [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07], name: 'a RAR archive' },
  { bytes: [0x75, 0x73, 0x74, 0x61, 0x72], at: 257, name: 'a tar archive' },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    name: 'a legacy Office (OLE2) file: .doc, .xls, .ppt or an encrypted .docx',
  },
  { bytes: [...'SQLite format 3\0'].map((c) => c.charCodeAt(0)), name: 'an SQLite database' },
  { bytes: [...'{\\rtf'].map((c) => c.charCodeAt(0)), name: 'an RTF document', textual: true },
];

/** Extensions that are never parseable text; named in the message when the bytes alone did not give them away. */
const UNSUPPORTED_EXTENSIONS = new Set([
  'doc', 'xls', 'xlsx', 'ppt', 'pptx', 'odt', 'ods', 'odp', 'rtf', 'epub', 'zip', 'gz', 'tgz', 'tar', '7z', 'rar',
  'exe', 'dll', 'so', 'bin', 'png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp', 'tif', 'tiff', 'mp3', 'mp4', 'mov', 'wav',
]); // prettier-ignore

export type DeclaredKind = 'pdf' | 'docx' | 'markdown' | 'html' | 'text' | 'unsupported' | 'unknown';

export function extensionOf(filename: string): string {
  const base = filename.slice(filename.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

/** "text/html; charset=utf-8" → { type: 'text/html', charset: 'utf-8' }. */
export function parseContentType(contentType: string | undefined): { type: string; charset?: string } {
  if (!contentType) return { type: '' };
  const [type = '', ...params] = contentType.split(';');
  const charset = params
    .map((p) => p.trim())
    .find((p) => p.toLowerCase().startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/^"|"$/g, '');
  return charset ? { type: type.trim().toLowerCase(), charset } : { type: type.trim().toLowerCase() };
}

/** What the name and content type claim the object is; the leading bytes get the final say. */
export function declaredKind(filename: string, contentType: string | undefined): DeclaredKind {
  const ext = extensionOf(filename);
  if (ext === 'pdf') return 'pdf';
  if (ext === 'docx') return 'docx';
  if (ext === 'md' || ext === 'markdown') return 'markdown';
  if (ext === 'html' || ext === 'htm' || ext === 'xhtml') return 'html';
  if (ext === 'txt' || ext === 'text') return 'text';
  if (UNSUPPORTED_EXTENSIONS.has(ext)) return 'unsupported';
  const { type } = parseContentType(contentType);
  if (type === 'application/pdf') return 'pdf';
  if (type === 'application/vnd.openxmlformats-officedocument.wordprocessingml.document') return 'docx';
  if (type === 'text/markdown' || type === 'text/x-markdown') return 'markdown';
  if (type === 'text/html' || type === 'application/xhtml+xml') return 'html';
  if (type.startsWith('text/')) return 'text';
  return 'unknown';
}

export function startsWith(head: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (head.length < at + bytes.length) return false;
  return bytes.every((b, i) => head[at + i] === b);
}

export const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // %PDF-
export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // PK\3\4: a local file header
export const EMPTY_ZIP_MAGIC = [0x50, 0x4b, 0x05, 0x06]; // PK\5\6: an archive with no entries

/** Names a binary format the leading bytes reveal, or undefined. */
export function knownBinaryFormat(head: Uint8Array): string | undefined {
  const looksBinary = binaryReason(head) !== undefined;
  return MAGIC.find((m) => {
    if (!startsWith(head, m.bytes, m.at ?? 0)) return false;
    // A magic made of letters ("MZ", "ID3") also starts ordinary sentences: trust it only if the rest is binary too.
    const printable = m.bytes.every((b) => b >= 0x20 && b < 0x7f);
    return !printable || m.textual === true || looksBinary;
  })?.name;
}

/**
 * Why the leading bytes look like binary data rather than text, or undefined. NUL never appears in real text (outside
 * UTF-16, which is handled before this runs); a few stray control characters do, so only a high share of them counts.
 */
export function binaryReason(head: Uint8Array): string | undefined {
  if (head.length === 0) return undefined;
  let controls = 0;
  for (const b of head) {
    if (b === 0) return `NUL bytes in the first ${Math.round(SNIFF_BYTES / 1024)} KB`;
    // Tab, LF, VT, FF, CR and ESC (ANSI colours in logs) are at home in text.
    if ((b < 0x20 && !(b >= 0x09 && b <= 0x0d) && b !== 0x1b) || b === 0x7f) controls++;
  }
  const ratio = controls / head.length;
  return ratio > 0.1
    ? `${Math.round(ratio * 100)}% control characters in the first ${Math.round(SNIFF_BYTES / 1024)} KB`
    : undefined;
}

/** An HTML document whose extension and content type said nothing. */
export function looksLikeHtml(head: Uint8Array): boolean {
  const start = Buffer.from(head.subarray(0, 512)).toString('latin1').trimStart().toLowerCase();
  return start.startsWith('<!doctype html') || start.startsWith('<html');
}

/** The charset a <meta> tag declares in the first 1024 bytes (the HTML spec's prescan window), if any. */
export function htmlMetaCharset(head: Uint8Array): string | undefined {
  const start = Buffer.from(head.subarray(0, 1024)).toString('latin1');
  const match = /<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9_:.+-]+)/i.exec(start);
  const label = match?.[1]?.toLowerCase();
  // A <meta> can't declare UTF-16: the tag itself could not have been read as ASCII. The spec says use UTF-8 then.
  if (!label || label.startsWith('utf-16') || label === 'x-user-defined') return undefined;
  return label;
}
