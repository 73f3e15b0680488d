import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { pipelineRef } from '../../pipeline/ref.ts';
import { indexAlias, indexName, validatePipelineSpec, type PipelineSpec } from '../../pipeline/spec.ts';
import { createSinks } from '../../workers/build-deps.ts';
import { cliEnv } from './support.ts';
import { eventually, stack, uniqueName } from '../support/stack.ts';

const root = join(import.meta.dirname, '..', '..');

/** `ingest run` with a local model starts `ingest worker --role embed` as its child: the pids of its children. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('`ingest run` with the local model: the embed worker as a child process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-embed-child-'));
  const corpus = join(dir, 'corpus');
  const specFile = join(dir, 'pipeline.json');
  let spec: PipelineSpec;

  before(() => {
    mkdirSync(corpus);
    // Enough text that the run is still embedding when the test strikes.
    for (let i = 0; i < 300; i++)
      writeFileSync(join(corpus, `doc-${i}.md`), `# Doc ${i}\n\n${`Sentence ${i} about ingestion and vectors. `.repeat(200)}`);
    spec = validatePipelineSpec({
      name: uniqueName('embed-child').slice(0, 30),
      version: 1,
      tenant: uniqueName('tenant'),
      chunker: { kind: 'recursive', chunkSize: 240, chunkOverlap: 24 },
      embedder: { kind: 'local-onnx' },
      sinks: [{ kind: 'chroma', name: 'chroma', port: stack.ports.chroma }],
      blobStore: { kind: 'local-dir', root: join(dir, 'blobs') },
      ledger: { kind: 'sqlite', path: join(dir, 'ledger.sqlite') },
    });
    writeFileSync(specFile, JSON.stringify(spec));
  });

  after(async () => {
    // Both runs were left without workers: end their workflows so nothing of this test stays open on the server.
    const connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.temporal}` });
    const client = new Client({ connection, namespace: stack.temporalNamespace });
    const queue = pipelineRef(spec).ingestQueue;
    for await (const wf of client.workflow.list({ query: `TaskQueue = "${queue}" AND ExecutionStatus = "Running"` }))
      await client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .terminate('test over')
        .catch(() => undefined);
    await connection.close();
    for (const [, sink] of await createSinks(spec)) {
      await sink.deleteAlias(indexAlias(spec)).catch(() => undefined);
      await sink.dropIndex(indexName(spec)).catch(() => undefined);
      await sink.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  function startRun() {
    const child = spawn(
      process.execPath,
      [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'run', '--source', corpus, '--json'],
      {
        cwd: root,
        env: cliEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    return { child, exit, stderr: () => stderr };
  }

  /** The embed worker once it has embedded something (its chunks reached the sink), so the run is mid-way. */
  async function embedWorkerMidRun(parent: number): Promise<number> {
    const [embed] = await eventually(
      async () => {
        const kids = childrenOf(parent);
        return kids.length > 0 ? kids : undefined;
      },
      60_000,
      'the embed worker process',
    );
    const sink = [...(await createSinks(spec)).values()][0]!;
    try {
      await eventually(
        async () => ((await sink.count(indexName(spec), { tenant: spec.tenant }).catch(() => 0)) > 0 ? true : undefined),
        120_000,
        'chunks in the sink',
      );
    } finally {
      await sink.close();
    }
    return embed!;
  }

  it('a run whose embed worker dies ends at once with exit code 1 and the reason, instead of waiting for ever', async () => {
    const run = startRun();
    const embed = await embedWorkerMidRun(run.child.pid!);
    process.kill(embed, 'SIGKILL');
    const [code, signal] = await run.exit;
    assert.equal(signal, null);
    assert.equal(code, 1, run.stderr());
    assert.match(run.stderr(), /ingest: the embed worker \(pid \d+\) exited on SIGKILL while the run needed it/);
  });

  it('a run killed outright takes its embed worker with it (no orphan keeps polling)', async () => {
    const run = startRun();
    const embed = await embedWorkerMidRun(run.child.pid!);
    run.child.kill('SIGKILL');
    await run.exit;
    // Its stdin closes with the parent: it drains what it holds and exits.
    await eventually(async () => (alive(embed) ? undefined : true), 60_000, `pid ${embed} exits`);
  });
});
