import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { stack, uniqueName } from '../support/stack.ts';

const Tenant = defineSearchAttributeKey('Tenant', 'KEYWORD');

describe('Temporal dev server with the Temporal client and worker', () => {
  const address = `127.0.0.1:${stack.ports.temporal}`;
  const namespace = stack.temporalNamespace;
  const taskQueue = uniqueName('smoke');
  let connection: Connection;
  let client: Client;

  before(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace });
  });
  after(() => connection.close());

  it('runs a workflow on a worker and reads it back, with search attributes', async () => {
    const worker = await Worker.create({
      connection: await NativeConnection.connect({ address }),
      namespace,
      taskQueue,
      workflowsPath: new URL('./fixtures/workflows.ts', import.meta.url).pathname,
      activities: { greet: async (name: string) => `hello, ${name}` },
    });
    const tenant = uniqueName('tenant');
    const workflowId = uniqueName('smoke-greet');
    const result = await worker.runUntil(async () => {
      const handle = await client.workflow.start('greetWorkflow', {
        taskQueue,
        workflowId,
        args: ['ragline'],
        workflowExecutionTimeout: '30 seconds', // a broken workflow fails this test instead of hanging it
        typedSearchAttributes: [{ key: Tenant, value: tenant }],
      });
      return handle.result();
    });
    assert.equal(result, 'hello, ragline');

    const described = await client.workflow.getHandle(workflowId).describe();
    assert.equal(described.status.name, 'COMPLETED');
    assert.equal(described.typedSearchAttributes.get(Tenant), tenant);

    // Visibility is eventually consistent: list by our custom search attributes until the run shows up.
    let ids: string[] = [];
    for (let i = 0; i < 50 && ids.length === 0; i++) {
      ids = [];
      for await (const wf of client.workflow.list({ query: `Tenant = "${tenant}" AND DocStatus = "done"` }))
        ids.push(wf.workflowId);
      if (ids.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(ids, [workflowId]);
  });

  it('serves the Web UI and its API for our namespace', async () => {
    const page = await fetch(`http://127.0.0.1:${stack.ports.temporalUi}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    // The UI is a single-page app: the shell names its entry module, which must load too.
    const html = await page.text();
    const entry = /href="(\/_app\/immutable\/entry\/start\.[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(entry, 'the UI page names its entry module');
    const script = await fetch(`http://127.0.0.1:${stack.ports.temporalUi}${entry}`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);

    const api = await fetch(`http://127.0.0.1:${stack.ports.temporalUi}/api/v1/namespaces/${namespace}`);
    assert.equal(api.status, 200);
    const body = (await api.json()) as { namespaceInfo: { name: string } };
    assert.equal(body.namespaceInfo.name, namespace);
  });
});
