import { createReadStream } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { ObjectStat, OpenedObject, Source, SourcePage } from './source.ts';

/**
 * Files under a local directory (`file:///abs/dir`), listed in sorted path order so the cursor (the last path
 * returned) resumes a listing exactly. Hidden files and folders are skipped.
 */
export function createLocalDirSource(): Source {
  return {
    handles: (uri) => uri.startsWith('file://'),

    async list(prefixUri, { cursor, pageSize }): Promise<SourcePage> {
      const root = fileURLToPath(prefixUri);
      const info = await statOrMissing(root);
      if (!info) throw new ConnectorError(FailureType.NotFound, `${root} does not exist`);
      const items: SourcePage['items'] = [];
      if (info.isFile()) {
        if (!cursor) items.push({ uri: pathToFileURL(root).href, size: info.size, version: fileVersion(info) });
        return { items };
      }
      for await (const path of walkSorted(root)) {
        const rel = relative(root, path);
        if (cursor !== undefined && rel <= cursor) continue;
        const st = await stat(path);
        items.push({ uri: pathToFileURL(path).href, size: st.size, version: fileVersion(st) });
        if (items.length === pageSize) return { items, cursor: rel };
      }
      return { items };
    },

    async open(uri): Promise<OpenedObject> {
      const path = fileURLToPath(uri);
      const st = await statOrMissing(path);
      if (!st?.isFile()) throw new ConnectorError(FailureType.NotFound, `${path} does not exist`);
      return { body: createReadStream(path), size: st.size, filename: basename(path), version: fileVersion(st) };
    },

    async stat(uri): Promise<ObjectStat> {
      const path = fileURLToPath(uri);
      const st = await statOrMissing(path);
      if (!st?.isFile()) throw new ConnectorError(FailureType.NotFound, `${path} does not exist`);
      return { size: st.size, version: fileVersion(st) };
    },

    async close() {},
  };
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
    throw new ConnectorError(FailureType.Unavailable, `cannot read ${path}: ${code ?? (err as Error).message}`, { cause: err });
  }
}

/** A file's version: size and mtime (ms), the same from a listing, an open and a stat. */
function fileVersion(st: { size: number; mtimeMs: number }): string {
  return `${st.size}-${Math.trunc(st.mtimeMs)}`;
}

/** Depth-first walk yielding file paths in the same order as comparing their relative paths as strings. */
async function* walkSorted(dir: string): AsyncGenerator<string> {
  const entries: Array<{ name: string; isDir: boolean }> = [];
  for await (const e of await opendir(dir)) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || e.isFile()) entries.push({ name: e.isDirectory() ? e.name + sep : e.name, isDir: e.isDirectory() });
  }
  // Sorting "name/" against "name.txt" the way their full relative paths compare keeps the cursor valid.
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = resolve(join(dir, e.name));
    if (e.isDir) yield* walkSorted(path);
    else yield path;
  }
}
