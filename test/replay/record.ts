// `npm run record:histories`: runs every workflow type through its paths on the local stack (ingest, failure,
// delete sweep, pause/resume/throttle, cancel, reconciliation, promotion, retirement, rollback) and writes their event
// histories to test/replay/histories/, where replay.test.ts replays them against the current workflow code. Record
// anew when a workflow type or a path is added (`-- --types reconcileWorkflow` writes only that type's); keep the old
// files: they are the histories running workflows have in the field.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { tenantKey } from '../../workflows/search-attributes.ts';
import { Harness } from '../e2e/support.ts';
import { eventually, uniqueName } from '../support/stack.ts';

const out = join(import.meta.dirname, 'histories');
const root = join(import.meta.dirname, '..', '..');
// Recorded sets sit side by side: each file name starts with the minute its set was recorded.
const stamp = new Date().toISOString().slice(0, 16).replace(':', '');
// `--types a,b`: write only these workflow types' histories (a new type joins the committed sets without a whole set).
const typesArg = process.argv.indexOf('--types');
const only = typesArg > 0 ? process.argv[typesArg + 1]?.split(',') : undefined;

const h = new Harness({
  name: uniqueName('replay').slice(0, 30),
  embedder: { kind: 'hash', dims: 64 },
  tenant: uniqueName('replay-tenant'),
});
await h.start();
const documents = (prefix: string, n: number) =>
  Promise.all(
    Array.from({ length: n }, (_, i) =>
      h.put(`${prefix}/doc-${i}.md`, `# Doc ${i}\n\n${'Words about ingestion. '.repeat(20 + i)}`),
    ),
  );
try {
  // Ingest: good documents, a corrupt PDF (failed), an empty file; then an edit, a vanished document and a delete.
  await documents('docs', 3);
  await h.put('docs/broken.pdf', '%PDF-1.7 this is not a PDF');
  await h.put('docs/empty.txt', '');
  await h.ingestAll('docs/');
  await h.put('docs/doc-0.md', '# Doc 0\n\nEdited.');
  await h.remove('docs/doc-1.md');
  await h.ingestAll('docs/');
  await h.client.deleteDocument(h.uri('docs/doc-2.md'));

  // Controls: pause, resume and throttle a run, then cancel another one mid-way.
  await documents('many', 6);
  const run = await h.client.startIngest(`s3://${h.bucket}/many/`);
  await run.pause();
  await run.throttle(2);
  await run.resume();
  await run.result();
  await documents('cancel', 12);
  const doomed = await h.client.startIngest(`s3://${h.bucket}/cancel/`);
  await doomed.throttle(2);
  // Cancelled with documents in flight, so their workflows are cancelled too.
  await eventually(async () => ((await doomed.progress()).inFlight > 0 ? true : undefined), 30_000, 'documents in flight');
  await doomed.cancel();
  await doomed.result().catch(() => undefined);

  // Reconciliation: chunks deleted behind the pipeline's back are found and repaired; then a dry run finds nothing.
  const drifted = (await h.ledger.get(h.spec.tenant, h.uri('docs/doc-0.md')))!.chunkIds;
  await h.sink.deleteIds(h.index, drifted.slice(0, 1));
  await (await h.client.reconcile()).result();
  await (await h.client.reconcile({ dryRun: true })).result();

  // Promotion: the first version, a second that retires it, a third rolled back.
  await (await h.client.promote({ retireAfterMs: 1000, acceptLosses: 'all' })).result();
  for (const rollback of [false, true]) {
    await h.upgrade();
    await h.ingestAll('docs/');
    const p = await h.client.promote({ retireAfterMs: rollback ? 600_000 : 1000, acceptLosses: 'all' });
    await p.switched();
    if (rollback) await p.rollback();
    await p.result();
  }

  // Every execution of this tenant, closed, once visibility has them all.
  const query = `${tenantKey.name} = "${h.spec.tenant}"`;
  const ids = await eventually(
    async () => {
      const seen: { workflowId: string; runId: string; type: string; status: string }[] = [];
      for await (const wf of h.client.temporal.workflow.list({ query }))
        seen.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type, status: wf.status.name });
      return seen.length > 0 && seen.every((s) => s.status !== 'RUNNING') ? seen : undefined;
    },
    60_000,
    'every execution closed',
  ).catch(async () => {
    // Document workflows wait for events and stay open: record them as they are (a partial history replays too).
    const seen: { workflowId: string; runId: string; type: string; status: string }[] = [];
    for await (const wf of h.client.temporal.workflow.list({ query }))
      seen.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type, status: wf.status.name });
    return seen;
  });
  mkdirSync(out, { recursive: true });
  const counts: Record<string, number> = {};
  for (const wf of ids.sort((a, b) => a.type.localeCompare(b.type) || a.workflowId.localeCompare(b.workflowId))) {
    if (only && !only.includes(wf.type)) continue;
    const n = (counts[wf.type] = (counts[wf.type] ?? 0) + 1);
    const history = await h.client.temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    // The recording machine's name (in worker identities) and folder (in stack traces) say nothing about the workflow.
    const json = historyToJSON(history).replaceAll(hostname(), 'recorder').replaceAll(root, '/project');
    const file = join(out, `${stamp}.${wf.type}.${String(n).padStart(2, '0')}.json`);
    writeFileSync(file, `${JSON.stringify({ workflowId: wf.workflowId, status: wf.status, history: JSON.parse(json) })}\n`);
  }
  console.log(JSON.stringify({ out, executions: counts }));
  for (const wf of ids.filter((w) => w.status === 'RUNNING'))
    await h.client.temporal.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('recorded')
      .catch(() => undefined);
} finally {
  await h.dropIndexes(undefined, [1, 2, 3]).catch(() => undefined);
  await h.stop();
}
