import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../shared/errors.ts';
import { createLocalDirSource } from './local-dir.ts';

const root = await mkdtemp(join(tmpdir(), 'ragline-local-dir-'));
after(() => rm(root, { recursive: true, force: true }));
const source = createLocalDirSource();
const uri = (name: string) => pathToFileURL(join(root, name)).href;
const isType = (type: FailureType) => (err: unknown) => err instanceof ConnectorError && err.type === type;

describe('local folder source', () => {
  it('stat, open and list agree on a file version (size and mtime)', async () => {
    await writeFile(join(root, 'a.txt'), 'hello');
    const st = await source.stat(uri('a.txt'));
    const opened = await source.open(uri('a.txt'));
    opened.body.destroy();
    const listed = (await source.list(pathToFileURL(root).href, { pageSize: 10 })).items.find((i) => i.uri === uri('a.txt'));
    assert.equal(st.size, 5);
    assert.equal(opened.version, st.version);
    assert.equal(listed?.version, st.version);
    const single = (await source.list(uri('a.txt'), { pageSize: 10 })).items[0];
    assert.equal(single?.version, st.version, 'a single-file source lists the same version');
  });

  it('only a definite absence is NotFound (the document is then deleted everywhere)', async () => {
    await writeFile(join(root, 'plain'), 'x');
    await assert.rejects(source.stat(uri('missing.txt')), isType(FailureType.NotFound));
    await assert.rejects(source.open(uri('missing.txt')), isType(FailureType.NotFound));
    await assert.rejects(source.stat(uri('plain/child.txt')), isType(FailureType.NotFound));
  });

  it('a loop of symbolic links is a typed, non-retryable InvalidInput, never a deletion', async () => {
    await symlink(join(root, 'loop-b'), join(root, 'loop-a'));
    await symlink(join(root, 'loop-a'), join(root, 'loop-b'));
    for (const op of [() => source.stat(uri('loop-a')), () => source.open(uri('loop-a'))]) {
      await assert.rejects(op(), (err: unknown) => isType(FailureType.InvalidInput)(err) && !(err as ConnectorError).retryable);
    }
  });

  it('a FIFO is refused as not a regular file instead of blocking the read', async () => {
    const fifo = join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(source.open(uri('pipe')), isType(FailureType.UnsupportedFormat));
    const listed = (await source.list(pathToFileURL(root).href, { pageSize: 100 })).items.map((i) => i.uri);
    assert.ok(!listed.includes(uri('pipe')), 'a listing skips what is not a regular file');
  });

  it('a file name that is not UTF-8 fails that document alone, typed; the rest of the folder is listed and read', async () => {
    const dir = join(root, 'latin1');
    await mkdir(dir);
    await writeFile(join(dir, 'good.txt'), 'fine');
    // "caf\xe9.txt" in Latin-1: no UTF-8 string names it.
    await writeFile(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'bytes');
    await mkdir(Buffer.concat([Buffer.from(`${dir}/sub`), Buffer.from([0xff])]));
    const listed = (await source.list(pathToFileURL(dir).href, { pageSize: 100 })).items.map((i) => i.uri);
    assert.deepEqual(listed, [
      `${pathToFileURL(dir).href}/caf%E9.txt`,
      uri('latin1/good.txt'),
      `${pathToFileURL(dir).href}/sub%FF`,
    ]);
    await assert.rejects(
      source.open(listed[0]!),
      (err: unknown) => isType(FailureType.InvalidInput)(err) && /not UTF-8/.test((err as Error).message),
    );
    await assert.rejects(source.stat(listed[2]!), isType(FailureType.InvalidInput));
    const opened = await source.open(listed[1]!);
    opened.body.destroy();
    assert.equal(opened.size, 4);
  });
});

describe('local folder source confined to roots', () => {
  const allowed = join(root, 'allowed');
  const outside = join(root, 'outside');
  const confined = createLocalDirSource({ roots: [allowed] });
  const forbidden = isType(FailureType.SourceForbidden);

  it('reads inside its roots and refuses /etc/passwd, .. climbs and links that lead out', async () => {
    await mkdir(join(allowed, 'sub'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(allowed, 'sub', 'in.txt'), 'inside');
    await writeFile(join(outside, 'secret.txt'), 'secret');
    await symlink(join(outside, 'secret.txt'), join(allowed, 'link-out.txt'));
    await symlink(outside, join(allowed, 'dir-out'));

    assert.equal((await confined.stat(pathToFileURL(join(allowed, 'sub', 'in.txt')).href)).size, 6);
    const listed = await confined.list(pathToFileURL(allowed).href, { pageSize: 100 });
    assert.deepEqual(
      listed.items.map((i) => i.uri),
      [pathToFileURL(join(allowed, 'sub', 'in.txt')).href],
      'links are not listed',
    );
    const refused = [
      'file:///etc/passwd',
      pathToFileURL(join(outside, 'secret.txt')).href,
      // A uri with .. segments is normalised by the URL parser; a path-like string that climbs is caught as written.
      `file://${allowed}/../outside/secret.txt`,
      pathToFileURL(join(allowed, 'link-out.txt')).href,
      pathToFileURL(join(allowed, 'dir-out', 'secret.txt')).href,
      pathToFileURL(join(allowed, 'dir-out', 'gone.txt')).href,
    ];
    for (const u of refused) {
      await assert.rejects(confined.open(u), forbidden, `open ${u}`);
      await assert.rejects(confined.stat(u), forbidden, `stat ${u}`);
    }
    await assert.rejects(confined.list(pathToFileURL(outside).href, { pageSize: 10 }), forbidden);
    await assert.rejects(confined.list('file:///', { pageSize: 10 }), forbidden);
    const err = await confined.open('file:///etc/passwd').catch((e: unknown) => e as ConnectorError);
    assert.ok(err instanceof ConnectorError && !err.retryable);
    assert.match(err.message, /source\.local\.roots/);
  });

  it('a file that is gone inside a root is still NotFound (so its deletion is applied)', async () => {
    await assert.rejects(confined.stat(pathToFileURL(join(allowed, 'sub', 'never.txt')).href), isType(FailureType.NotFound));
    await assert.rejects(confined.stat(pathToFileURL(join(allowed, 'no-dir', 'never.txt')).href), isType(FailureType.NotFound));
  });

  it('no roots at all refuses every file', async () => {
    const none = createLocalDirSource({ roots: [] });
    await assert.rejects(none.stat(pathToFileURL(join(allowed, 'sub', 'in.txt')).href), forbidden);
  });
});
