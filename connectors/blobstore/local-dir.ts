import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import type { BlobBody, BlobStore } from './blobstore.ts';
import { bodyChunks, compareKeys, type BodyTally, TEMP_SUFFIX, validateKey, validatePrefix } from './keys.ts';

export const LocalDirBlobStoreConfig = z.object({
  /** Folder holding the blobs; created on first write. */
  root: z.string().min(1),
});
export type LocalDirBlobStoreConfig = z.infer<typeof LocalDirBlobStoreConfig>;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A key and a folder share one name in a file system: `a` and `a/b` cannot both exist (the same holds on versitygw). */
function conflict(key: string, err: unknown): ConnectorError {
  return new ConnectorError(
    FailureType.InvalidInput,
    `blob key ${JSON.stringify(key)} collides with another key: a key cannot also be the folder of other keys`,
    { cause: err },
  );
}

function fsError(what: string, err: unknown): ConnectorError {
  const code = errCode(err);
  // A full or read-only disk, or a permission problem, needs an operator: retrying the activity cannot fix it.
  const permanent = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOSPC' || code === 'ENAMETOOLONG';
  return new ConnectorError(
    permanent ? FailureType.InvalidInput : FailureType.Unavailable,
    `${what}: ${(err as Error).message}`,
    {
      cause: err,
    },
  );
}

/** Blobs as files under one folder: the embedded default, and what tests use. */
export function createLocalDirBlobStore(config: LocalDirBlobStoreConfig): BlobStore {
  const root = resolve(LocalDirBlobStoreConfig.parse(config).root);
  const pathOf = (key: string) => join(root, ...key.split('/'));

  /** Removes now-empty folders from `dir` up to (not including) the root; a folder still in use stops it. */
  async function prune(dir: string): Promise<void> {
    while (dir !== root && dir.startsWith(root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // ENOTEMPTY (a concurrent put, or other keys), ENOENT (someone else pruned it): both mean stop.
      }
      dir = dirname(dir);
    }
  }

  /** Opens a fresh temp file next to `path`; retried because a concurrent delete may prune the folder in between. */
  async function openTemp(key: string, dir: string): Promise<{ fh: FileHandle; tmp: string }> {
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        if (errCode(err) === 'EEXIST' || errCode(err) === 'ENOTDIR') throw conflict(key, err);
        throw fsError(`cannot create folder for ${key}`, err);
      }
      const tmp = join(dir, `.${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`);
      try {
        return { fh: await open(tmp, 'wx'), tmp };
      } catch (err) {
        if (errCode(err) === 'ENOENT' && attempt < 5) continue;
        throw fsError(`cannot write ${key}`, err);
      }
    }
  }

  async function put(key: string, body: BlobBody): Promise<{ bytes: number }> {
    validateKey(key);
    const path = pathOf(key);
    const dir = dirname(path);
    const { fh, tmp } = await openTemp(key, dir);
    const tally: BodyTally = { bytes: 0 };
    let renamed = false;
    try {
      try {
        for await (const chunk of bodyChunks(body, tally)) {
          let off = 0;
          while (off < chunk.length) off += (await fh.write(chunk, off)).bytesWritten;
        }
        // Data must be on disk before the rename publishes it, or a crash could leave a complete-looking empty file.
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await rename(tmp, path);
        renamed = true;
      } catch (err) {
        if (errCode(err) === 'EISDIR' || errCode(err) === 'ENOTEMPTY' || errCode(err) === 'EEXIST') throw conflict(key, err);
        throw err;
      }
      // The rename lives in the folder's entries: sync the folder so a completed put survives a crash.
      const dh = await open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
      return { bytes: tally.bytes };
    } catch (err) {
      if (!renamed) await unlink(tmp).catch(() => undefined);
      // A failing body stream is the caller's error, not the disk's: pass it on as it is.
      if (err instanceof ConnectorError || (tally.bodyError !== undefined && err === tally.bodyError)) throw err;
      throw fsError(`cannot write ${key}`, err);
    }
  }

  async function get(key: string): Promise<Readable> {
    validateKey(key);
    let fh: FileHandle;
    try {
      fh = await open(pathOf(key), 'r');
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new ConnectorError(FailureType.NotFound, `blob ${key} not found`, { cause: err });
      throw fsError(`cannot read ${key}`, err);
    }
    // Opening a folder read-only succeeds on Linux; a folder is not a blob.
    if (!(await fh.stat()).isFile()) {
      await fh.close();
      throw new ConnectorError(FailureType.NotFound, `blob ${key} not found`);
    }
    return fh.createReadStream();
  }

  async function exists(key: string): Promise<boolean> {
    validateKey(key);
    try {
      return (await stat(pathOf(key))).isFile();
    } catch (err) {
      if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return false;
      throw fsError(`cannot stat ${key}`, err);
    }
  }

  async function modifiedAt(key: string): Promise<Date> {
    validateKey(key);
    try {
      const st = await stat(pathOf(key));
      if (!st.isFile()) throw new ConnectorError(FailureType.NotFound, `blob ${key} not found`);
      return st.mtime;
    } catch (err) {
      if (err instanceof ConnectorError) throw err;
      if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR')
        throw new ConnectorError(FailureType.NotFound, `blob ${key} not found`);
      throw fsError(`cannot stat ${key}`, err);
    }
  }

  /** Deletes one key; false when there was none. */
  async function remove(key: string): Promise<boolean> {
    const path = pathOf(key);
    try {
      await unlink(path);
    } catch (err) {
      const code = errCode(err);
      // EISDIR: the name is a folder of other keys, not a key; like S3, deleting a missing key is not an error.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return false;
      throw fsError(`cannot delete ${key}`, err);
    }
    await prune(dirname(path));
    return true;
  }

  /** Yields the keys under `dir` in UTF-8 byte order; `only` keeps the top level's names starting with it. */
  async function* walk(dir: string, keyPrefix: string, only: string): AsyncGenerator<string> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return;
      throw fsError(`cannot list ${keyPrefix || '/'}`, err);
    }
    // A folder sorts as `name/`, which is where its keys sort among its siblings' keys.
    const items = entries
      .filter((e) => e.name.startsWith(only) && !e.name.endsWith(TEMP_SUFFIX) && (e.isFile() || e.isDirectory()))
      .map((e) => ({ name: e.name, isDir: e.isDirectory(), sortKey: e.isDirectory() ? `${e.name}/` : e.name }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const item of items) {
      const key = keyPrefix + item.name;
      if (item.isDir) yield* walk(join(dir, item.name), `${key}/`, '');
      else yield key;
    }
  }

  function list(prefix: string): AsyncIterable<string> {
    validatePrefix(prefix);
    const cut = prefix.lastIndexOf('/') + 1;
    const folder = prefix.slice(0, cut);
    return walk(folder ? pathOf(folder.slice(0, -1)) : root, folder, prefix.slice(cut));
  }

  return {
    put,
    get,
    exists,
    modifiedAt,
    async delete(key) {
      validateKey(key);
      await remove(key);
    },
    async deletePrefix(prefix) {
      let n = 0;
      for await (const key of list(prefix)) if (await remove(key)) n++;
      return n;
    },
    list,
    async close() {},
  };
}
