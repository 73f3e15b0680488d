import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { loadStackConfig } from '../../infra/config.ts';
import { VERSIONS } from '../../infra/versions.ts';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { pipelineRef } from '../../pipeline/ref.ts';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../sdk/codec.ts';
import { DOCUMENT_PATCHES } from '../../workflows/document.ts';
import { startCliProcess, stopProcess } from '../support/cli-process.ts';
import { eventually, stack } from '../support/stack.ts';
import { cliEnv, Harness } from './support.ts';

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

/**
 * Every Payloads list in a history in the frontend's JSON form: the codec's (inputs, results, signal args, memo) in
 * `lists`, and apart in `patches` the details of patch markers: the TypeScript SDK writes a `patched()` call's marker
 * past the payload codec.
 */
function payloadLists(node: unknown): { lists: JsonPayload[][]; patches: JsonPayload[][] } {
  const found = { lists: [] as JsonPayload[][], patches: [] as JsonPayload[][] };
  const walk = (n: unknown, into: JsonPayload[][]): void => {
    if (Array.isArray(n)) for (const x of n) walk(x, into);
    else if (n && typeof n === 'object') {
      const to = (n as { markerName?: unknown }).markerName === 'core_patch' ? found.patches : into;
      for (const [k, v] of Object.entries(n)) {
        if (k === 'payloads' && Array.isArray(v)) to.push(v as JsonPayload[]);
        else walk(v, to);
      }
    }
  };
  walk(node, found.lists);
  return found;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as { port: number };
  await new Promise((done) => srv.close(done));
  return port;
}

describe('payload encryption: history holds ciphertext; the codec server gives operators the clear payloads', () => {
  const secretsDir = mkdtempSync(join(tmpdir(), 'ragline-keys-'));
  const oldKey = `2024-01:${randomBytes(32).toString('base64')}`;
  const newKey = `2025-06:${randomBytes(32).toString('base64')}`;
  writeFileSync(join(secretsDir, 'keys.txt'), `${newKey}\n${oldKey}\n`);
  const token = randomBytes(16).toString('hex');
  // Words that appear in the document and nowhere else.
  const marker = 'periwinkle quartermaster ledger seventeen';
  const h = new Harness({ temporal: { encryption: { keys: { file: join(secretsDir, 'keys.txt') } } } });
  let codecServer: ChildProcess | undefined;
  let codecUrl = '';
  let plain: Client;
  let workflowId = '';

  before(async () => {
    await h.start();
    await h.put('private/report.txt', `The ${marker} reads the quarterly numbers.\n\n`.repeat(20));
    // The codec server as an operator runs it: the same spec (its key ring), a bearer token from the environment.
    const specFile = join(secretsDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(h.spec));
    const port = await freePort();
    codecServer = await startCliProcess(
      ['--pipeline', specFile, 'codec-server', '--port', String(port), '--token-env', 'CODEC_TOKEN'],
      'codec server on',
      { ...cliEnv(), CODEC_TOKEN: token },
    );
    codecUrl = `http://127.0.0.1:${port}`;
    plain = new Client({
      connection: await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` }),
      namespace: stack.temporalNamespace,
    });
    const outcome = await h.client.ingestDocument(h.uri('private/report.txt'));
    assert.equal(outcome.status, 'ingested');
    workflowId = documentWorkflowId(pipelineRef(h.spec), h.uri('private/report.txt'));
  });
  after(async () => {
    if (codecServer) await stopProcess(codecServer, 'SIGTERM');
    await plain?.connection.close();
    await h.dropIndexes();
    await h.stop();
    rmSync(secretsDir, { recursive: true, force: true });
  });

  const decode = (payloads: JsonPayload[], auth: string | null = `Bearer ${token}`) =>
    fetch(`${codecUrl}/decode`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-namespace': stack.temporalNamespace,
        ...(auth && { authorization: auth }),
      },
      body: JSON.stringify({ payloads }),
    });

  it("the UI's API returns only ciphertext under the newest key, without the document's words", async () => {
    const res = await fetch(
      `http://127.0.0.1:${stack.ports.temporalUi}/api/v1/namespaces/${stack.temporalNamespace}/workflows/${encodeURIComponent(workflowId)}/history`,
    );
    assert.equal(res.status, 200);
    const body = await res.text();
    const { lists, patches } = payloadLists(JSON.parse(body));
    // Started (workflow input and the upsert signal), activity inputs and results at least.
    assert.ok(lists.length >= 5, `payload lists in the history: ${lists.length}`);
    // Patch markers are the one clear JSON in a history (the same-status patch's at least): a patch id of the workflow
    // code, never the document's data.
    const ids = Object.values(DOCUMENT_PATCHES) as string[];
    assert.ok(patches.length >= 1, 'the document workflow records its patch markers');
    for (const p of patches.flat()) {
      const patch = JSON.parse(unb64(p.data)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(patch).sort(), ['deprecated', 'id']);
      assert.ok(ids.includes(patch.id as string), `a patch id of the document workflow: ${String(patch.id)}`);
    }
    for (const p of lists.flat()) {
      assert.equal(unb64(p.metadata.encoding!), ENCRYPTED_ENCODING);
      assert.equal(unb64(p.metadata[KEY_ID_METADATA]!), '2025-06');
      assert.ok(!unb64(p.data).includes('sourceUri'), 'no clear JSON inside');
    }
    assert.ok(!body.includes(marker) && !body.includes(b64(marker)));
    // The same history as any client without the codec reads it through the frontend.
    const history = await plain.workflow.getHandle(workflowId).fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    const input = started.input!.payloads![0]!;
    assert.equal(Buffer.from(input.metadata!.encoding!).toString(), ENCRYPTED_ENCODING);
    // The memo is a payload too, so the codec encrypts it; search attributes stay in clear (they are indexed).
    assert.ok(Object.keys(started.memo?.fields ?? {}).length > 0, 'the document workflow carries a memo');
    for (const field of Object.values(started.memo!.fields!)) {
      assert.equal(Buffer.from(field.metadata!.encoding!).toString(), ENCRYPTED_ENCODING);
    }
    const sourceUri = started.searchAttributes!.indexedFields!.SourceUri!;
    assert.equal(JSON.parse(Buffer.from(sourceUri.data!).toString()), h.uri('private/report.txt'));

    // What the UI does when pointed at the codec server: it posts these payloads to /decode and shows the answer.
    const decoded = await decode(lists.flat());
    assert.equal(decoded.status, 200);
    const clear = ((await decoded.json()) as { payloads: JsonPayload[] }).payloads;
    assert.equal(clear.length, lists.flat().length);
    for (const p of clear) assert.match(unb64(p.metadata.encoding!), /^(json\/plain|binary\/null)$/);
    const texts = clear.map((p) => unb64(p.data));
    assert.ok(
      texts.some((t) => t.includes(`"sourceUri":"${h.uri('private/report.txt')}"`)),
      'the workflow input decodes to its clear JSON',
    );
    // Document text never travels through history, encrypted or not: only references do.
    assert.ok(!texts.some((t) => t.includes(marker)));
  });

  it('the codec server refuses callers without the token and answers CORS preflights from the UI origin only', async () => {
    const { lists } = payloadLists((await plain.workflow.getHandle(workflowId).fetchHistory()).events?.[0]);
    assert.ok(lists.length > 0);
    assert.equal((await decode([])).status, 200);
    assert.equal((await decode([], null)).status, 401);
    assert.equal((await decode([], 'Bearer wrong')).status, 401);
    const ui = `http://127.0.0.1:${stack.ports.temporalUi}`;
    const pre = await fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: ui,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,x-namespace',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), ui);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const foreign = await fetch(`${codecUrl}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    // encode then decode round-trips; a payload under a key the ring lacks is a clear 400 naming the key.
    const enc = await fetch(`${codecUrl}/encode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('"hello"') }] }),
    });
    const encoded = ((await enc.json()) as { payloads: JsonPayload[] }).payloads;
    assert.equal(unb64(encoded[0]!.metadata.encoding!), ENCRYPTED_ENCODING);
    const back = ((await (await decode(encoded)).json()) as { payloads: JsonPayload[] }).payloads;
    assert.equal(unb64(back[0]!.data), '"hello"');
    const foreignKey = await decode([{ ...encoded[0]!, metadata: { ...encoded[0]!.metadata, [KEY_ID_METADATA]: b64('1999') } }]);
    assert.equal(foreignKey.status, 400);
    assert.match(((await foreignKey.json()) as { error: string }).error, /key id "1999"/);
  });

  it('a dev server started with --ui-codec-endpoint hands its UI the codec server; the shared one has none', async () => {
    const shared = await (await fetch(`http://127.0.0.1:${stack.ports.temporalUi}/api/v1/settings`)).json();
    assert.equal((shared as { Codec: { Endpoint: string } }).Codec.Endpoint, '');
    const [grpc, ui, http, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const binary = join(loadStackConfig().cacheDir, 'go-bin', `temporal-${VERSIONS.temporalCli}`, 'temporal');
    const server = spawn(
      binary,
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(grpc),
        '--ui-port',
        String(ui),
        '--http-port',
        String(http),
        '--metrics-port',
        String(metrics),
        '--ui-codec-endpoint',
        codecUrl,
        '--log-level',
        'error',
      ],
      { env: { ...process.env, TEMPORAL_VERSION_CHECK_DISABLED: '1' }, stdio: 'ignore' },
    );
    try {
      const settings = await eventually(
        async () => {
          const res = await fetch(`http://127.0.0.1:${ui}/api/v1/settings`);
          return res.ok ? ((await res.json()) as { Codec: { Endpoint: string } }) : undefined;
        },
        60_000,
        'the second UI',
      );
      assert.equal(settings.Codec.Endpoint, codecUrl);
    } finally {
      await new Promise<void>((done) => {
        if (server.exitCode !== null) return done();
        server.once('exit', () => done());
        server.kill('SIGTERM');
      });
    }
  });
});
