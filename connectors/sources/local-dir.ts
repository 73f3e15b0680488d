import { createReadStream } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { opendir, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { ObjectStat, OpenedObject, Source, SourcePage } from './source.ts';

export interface LocalDirSourceOptions {
  /**
   * Absolute folders this source may read. A uri outside every root, or a path inside one whose real path (symlinks
   * resolved) leads out of it, is refused with SourceForbidden before anything is read. Undefined: no confinement
   * (tools that read what their user names); pipelines always pass their `source.local.roots`.
   */
  roots?: string[];
}

/**
 * Files under a local directory (`file:///abs/dir`), listed in sorted path order so the cursor (the last path
 * returned) resumes a listing exactly. Hidden files and folders are skipped, and so are symlinks in a listing.
 */
export function createLocalDirSource(opts: LocalDirSourceOptions = {}): Source {
  const confine = opts.roots ? confinement(opts.roots) : async (path: string) => path;
  return {
    handles: (uri) => uri.startsWith('file://'),

    async list(prefixUri, { cursor, pageSize }): Promise<SourcePage> {
      const root = await confine(pathOf(prefixUri));
      const info = await statOrMissing(root);
      if (!info) throw new ConnectorError(FailureType.NotFound, `${root} does not exist`);
      const items: SourcePage['items'] = [];
      if (info.isFile()) {
        if (!cursor) items.push({ uri: pathToFileURL(root).href, size: info.size, version: fileVersion(info) });
        return { items };
      }
      for await (const entry of walkSorted(root)) {
        const rel = relative(root, entry.path);
        if (cursor !== undefined && rel <= cursor) continue;
        if (entry.rawName) {
          // A name that is not UTF-8 has no faithful path string: it is listed under its raw bytes, and the document
          // fails alone, typed, when it is opened (the rest of the folder is not held back by it).
          const uri = `${pathToFileURL(dirname(entry.path)).href.replace(/\/?$/, '/')}${percentEncode(entry.rawName)}`;
          items.push({ uri, size: 0, version: 'name-not-utf8' });
        } else {
          const st = await statOrMissing(entry.path);
          if (!st) continue; // removed since the folder was read: the sweep of vanished documents handles it
          items.push({ uri: pathToFileURL(entry.path).href, size: st.size, version: fileVersion(st) });
        }
        if (items.length === pageSize) return { items, cursor: rel };
      }
      return { items };
    },

    async open(uri): Promise<OpenedObject> {
      const path = await confine(pathOf(uri));
      const st = await statOrMissing(path);
      if (!st || st.isDirectory()) throw new ConnectorError(FailureType.NotFound, `${path} does not exist`);
      // Opening a FIFO would wait for a writer forever; sockets and devices are not documents either.
      if (!st.isFile()) throw new ConnectorError(FailureType.UnsupportedFormat, `${path} is not a regular file`);
      return { body: createReadStream(path), size: st.size, filename: basename(path), version: fileVersion(st) };
    },

    async stat(uri): Promise<ObjectStat> {
      const path = await confine(pathOf(uri));
      const st = await statOrMissing(path);
      if (!st?.isFile()) throw new ConnectorError(FailureType.NotFound, `${path} does not exist`);
      return { size: st.size, version: fileVersion(st) };
    },

    async close() {},
  };
}

function pathOf(uri: string): string {
  // Percent-escapes that are not UTF-8 (a file name in another encoding) name no path string.
  if (uri.startsWith('file:') && !isUtf8(percentDecode(uri))) {
    throw new ConnectorError(FailureType.InvalidInput, `${uri}: the file name is not UTF-8; rename the file to read it`);
  }
  try {
    return fileURLToPath(uri);
  } catch (err) {
    throw new ConnectorError(FailureType.InvalidInput, `not a local file uri: ${uri}: ${(err as Error).message}`);
  }
}

function percentDecode(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(s[i]!, 'utf8'));
  }
  return Buffer.from(bytes);
}

function percentEncode(bytes: Buffer): string {
  let out = '';
  for (const b of bytes)
    out += /[A-Za-z0-9._~-]/.test(String.fromCharCode(b))
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

function inside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Checks a path against the roots twice: as written (so `..` cannot climb out), then with symlinks resolved against
 * the roots' own real paths (so a link inside a root cannot point out of it). A path that does not exist yet is
 * checked through its nearest existing parent. Returns the path as written (the document keeps its uri).
 */
function confinement(roots: string[]): (path: string) => Promise<string> {
  const lexical = roots.map((r) => resolve(r));
  let real: Promise<string[]> | undefined;
  const realRoots = () => (real ??= Promise.all(lexical.map((r) => realpath(r).catch(() => r))));
  const refuse = (path: string, why: string) =>
    new ConnectorError(
      FailureType.SourceForbidden,
      `${path} ${why} the pipeline's allowed folders (source.local.roots: ${lexical.join(', ') || 'none'})`,
    );
  return async (path) => {
    const abs = resolve(path);
    if (!lexical.some((r) => inside(abs, r))) throw refuse(abs, 'is outside');
    const resolved = await realOrParent(abs);
    if (!(await realRoots()).some((r) => inside(resolved, r))) throw refuse(abs, 'leads through a link out of');
    return abs;
  };
}

/** The real path of `path`, or of its nearest existing parent joined with the rest (for a file already gone). */
async function realOrParent(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const parent = dirname(path);
    if ((code === 'ENOENT' || code === 'ENOTDIR') && parent !== path) return join(await realOrParent(parent), basename(path));
    if (code === 'ELOOP') throw new ConnectorError(FailureType.InvalidInput, `${path} is a loop of symbolic links`);
    throw new ConnectorError(FailureType.Unavailable, `cannot read ${path}: ${code ?? (err as Error).message}`, { cause: err });
  }
}

/**
 * A file's stat, or undefined when it definitely does not exist. Any other failure (a permission error, a dead mount,
 * an I/O error) is Unavailable and retried: treating it as "gone" would delete the document from every sink.
 */
async function statOrMissing(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new ConnectorError(FailureType.InvalidInput, `${path} is a loop of symbolic links`);
    throw new ConnectorError(FailureType.Unavailable, `cannot read ${path}: ${code ?? (err as Error).message}`, { cause: err });
  }
}

/** A file's version: size and mtime (ms), the same from a listing, an open and a stat. */
function fileVersion(st: { size: number; mtimeMs: number }): string {
  return `${st.size}-${Math.trunc(st.mtimeMs)}`;
}

/** Depth-first walk yielding files in the same order as comparing their relative paths as strings. */
async function* walkSorted(dir: string): AsyncGenerator<{ path: string; rawName?: Buffer }> {
  const entries: Array<{ name: string; isDir: boolean; rawName?: Buffer }> = [];
  for await (const e of await opendir(dir, { encoding: 'buffer' as BufferEncoding })) {
    const raw = e.name as unknown as Buffer;
    const name = raw.toString('utf8');
    if (name.startsWith('.')) continue;
    const rawName = isUtf8(raw) ? undefined : raw;
    // A folder whose name is not UTF-8 cannot be walked by path string: it is listed as one entry that fails typed.
    if (e.isDirectory() && !rawName) entries.push({ name: name + sep, isDir: true });
    else if (e.isFile() || (e.isDirectory() && rawName)) entries.push({ name, isDir: false, rawName });
  }
  // Sorting "name/" against "name.txt" the way their full relative paths compare keeps the cursor valid.
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = resolve(join(dir, e.name));
    if (e.isDir) yield* walkSorted(path);
    else yield { path, rawName: e.rawName };
  }
}
