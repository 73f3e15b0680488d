import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadStackConfig, StackConfigError } from '../../infra/config.ts';
import { SERVICE_NAMES } from '../../infra/service.ts';
import { Stack, StackUpError, withDependencies } from '../../infra/stack.ts';
import { portFree } from '../../infra/supervisor.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** A second stack beside the running one: its own data dir and Chroma port, the shared install cache. */
function sideStack(chromaPort: number): { stack: Stack; dataDir: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'ragline-stack-'));
  const stack = new Stack(loadStackConfig({ ...process.env, RAGLINE_DATA: dataDir, RAGLINE_CHROMA_PORT: String(chromaPort) }));
  return { stack, dataDir };
}

describe('local stack manager', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('starts what a service needs first (the S3 gateway needs Kafka)', () => {
    assert.deepEqual(withDependencies(['s3']), ['kafka', 's3']);
    assert.deepEqual(withDependencies(['chroma', 'temporal']), ['temporal', 'chroma']);
  });

  it('reports every bad setting at once', () => {
    assert.throws(
      () => loadStackConfig({ RAGLINE_KAFKA_PORT: 'x', RAGLINE_CHROMA_PORT: '70000' }),
      (err: Error) =>
        err instanceof StackConfigError &&
        err.message.includes('RAGLINE_KAFKA_PORT') &&
        err.message.includes('RAGLINE_CHROMA_PORT'),
    );
  });

  it('reports every service of the running stack healthy, with version and endpoint', async () => {
    const status = await new Stack(loadStackConfig()).status();
    assert.deepEqual(Object.keys(status), [...SERVICE_NAMES]);
    for (const [name, s] of Object.entries(status)) {
      assert.equal(s.ok, true, `${name}: ${s.detail}`);
      assert.ok(s.version.length > 0 && s.endpoint.length > 0, name);
    }
  });

  it('treats a second up as a no-op: the same processes keep running', async () => {
    const stack = new Stack(loadStackConfig());
    const before = await stack.status();
    await stack.up();
    const after = await stack.status();
    for (const name of SERVICE_NAMES) assert.equal(after[name].pid, before[name].pid, name);
  });

  it('refuses to start on a port held by another process, naming the service and its log', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => blocker.close(r)));
    const port = (blocker.address() as { port: number }).port;
    const { stack, dataDir } = sideStack(port);
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));

    await assert.rejects(stack.up(['chroma']), (err: Error) => {
      assert.ok(err instanceof StackUpError);
      assert.match(err.message, new RegExp(`^chroma: port ${port} is already in use`));
      assert.match(err.message, new RegExp(`log: ${dataDir}/logs/chroma.log`));
      return true;
    });
    assert.equal(stack.supervisor.runningPid('chroma'), undefined);
  });

  it('reports a server that dies while starting, with the tail of its log, and leaves nothing running', async () => {
    const { stack, dataDir } = sideStack(await freePort());
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // A folder where Chroma expects its SQLite file makes the server exit at start.
    mkdirSync(join(dataDir, 'chroma', 'chroma.sqlite3'), { recursive: true });
    await assert.rejects(stack.up(['chroma']), (err: Error) => {
      assert.ok(err instanceof StackUpError);
      assert.match(err.message, /^chroma: exited with code \d+ while starting/);
      assert.match(err.message, /unable to open database file/);
      return true;
    });
    assert.equal(stack.supervisor.runningPid('chroma'), undefined);
  });

  it('starts a service, then stops it leaving no process and a free port', async () => {
    const port = await freePort();
    const { stack, dataDir } = sideStack(port);
    cleanups.push(async () => {
      await stack.down();
      rmSync(dataDir, { recursive: true, force: true });
    });
    await stack.up(['chroma']);
    const pid = stack.supervisor.runningPid('chroma');
    assert.ok(pid !== undefined);
    assert.equal((await stack.status()).chroma.ok, true);

    assert.deepEqual(await stack.down(['chroma']), ['chroma']);
    assert.throws(() => process.kill(-pid, 0), { code: 'ESRCH' });
    assert.equal(await portFree(port), true);
    assert.deepEqual(await stack.down(['chroma']), [], 'a second down finds nothing to stop');
  });
});
