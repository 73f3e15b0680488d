import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
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

  it('any other file-system error is Unavailable and retryable, never a deletion', async () => {
    await symlink(join(root, 'loop-b'), join(root, 'loop-a'));
    await symlink(join(root, 'loop-a'), join(root, 'loop-b'));
    for (const op of [() => source.stat(uri('loop-a')), () => source.open(uri('loop-a'))]) {
      await assert.rejects(op(), (err: unknown) => isType(FailureType.Unavailable)(err) && (err as ConnectorError).retryable);
    }
  });
});
