// The Temporal UI as an operator's console, driven in headless Chromium (Debian's package, installed by `infra:up`;
// see infra/services/chromium.ts): filter runs by Tenant and DocStatus, open a failed document's run and read its
// failure type and reason, and pause a running source run with the UI's Signal dialog. The failed document's page is
// kept as a screenshot under .data/test-artifacts/temporal-ui/.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumPaths, missingChromium } from '../../infra/services/chromium.ts';
import { documentWorkflowId } from '../../pipeline/ids.ts';
import { pipelineRef } from '../../pipeline/ref.ts';
import type { IngestHandle } from '../../sdk/client.ts';
import { documentSummary, sourceRunSummary } from '../../workflows/summaries.ts';
import { startWorkers } from '../../workers/worker.ts';
import { artifactsDir } from '../support/artifacts.ts';
import { eventually, stack } from '../support/stack.ts';
import { cliEnv, Harness, s3Access } from './support.ts';

const root = join(import.meta.dirname, '..', '..');
const exec = promisify(execFile);
const ui = `http://127.0.0.1:${stack.ports.temporalUi}/namespaces/${encodeURIComponent(stack.temporalNamespace)}`;
const POISON = 'ui/broken.pdf';

describe('the Temporal UI: filter by Tenant and DocStatus, read a failure, pause a run (headless Chromium)', () => {
  // A pipeline whose run ingests one good document and fails one poison document.
  const h = new Harness();
  // A second pipeline of the same tenant with no embedding worker (as when the GPU pool is down): its source run stays
  // running, one document at a time, each waiting for an embedder.
  let stalled: Harness;
  let browser: Browser;
  let page: Page;
  let longRun: IngestHandle | undefined;

  /** Filters the workflow list with the UI's query box, as an operator types it, and waits for exactly `rows` rows. */
  async function filter(query: string, rows: number): Promise<void> {
    await page.goto(`${ui}/workflows`);
    await page.getByTestId('toggle-manual-query').click();
    const box = page.getByTestId('manual-search-input');
    await box.fill(query);
    await box.press('Enter');
    await page.waitForURL((url) => url.searchParams.get('query') === query);
    const listed = page.getByTestId('workflows-summary-configurable-table-row');
    await eventually(async () => ((await listed.count()) === rows ? true : undefined), 60_000, `${rows} row(s) for ${query}`);
  }

  /**
   * Waits until the page shows `text` in one of its rendered Markdown panes (the summary, the details and the current
   * details are each an iframe the UI renders the Markdown into).
   */
  const rendered = (text: string | RegExp) =>
    eventually(
      async () => {
        const panes = page.locator('iframe[title="output"]');
        for (let i = 0; i < (await panes.count()); i++) {
          const match = panes
            .nth(i)
            .contentFrame()
            .getByText(text, typeof text === 'string' ? { exact: true } : {});
          if ((await match.count()) > 0) return true;
        }
        return undefined;
      },
      60_000,
      `${String(text)} in a rendered pane`,
    );

  /** Waits until Temporal's visibility store answers `query` with `count` workflows (it lags writes a moment). */
  const visible = (query: string, count: number) =>
    eventually(
      async () => ((await h.client.temporal.workflow.count(query)).count === count ? true : undefined),
      60_000,
      `${count} workflow(s) for ${query}`,
    );

  before(async () => {
    assert.deepEqual(missingChromium(stack), [], 'Chromium for the browser tests is installed by `npm run infra:up`');
    await h.start();
    stalled = new Harness({ tenant: h.spec.tenant, concurrency: { documents: 1, pageSize: 10 } });
    await stalled.start({ workers: false });
    stalled.workers = await startWorkers({
      ...stalled.temporal,
      spec: stalled.spec,
      roles: ['ingest'],
      s3: s3Access,
      baseDir: stalled.dataDir,
      logLevel: 'ERROR',
    });
    browser = await chromium.launch({
      executablePath: chromiumPaths(stack).executable,
      // Chromium's sandbox refuses root (CI runs as root); /dev/shm is small in containers.
      args: ['--disable-dev-shm-usage', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
    page.setDefaultTimeout(60_000);
  });

  after(async () => {
    if (longRun) {
      await longRun.cancel().catch(() => undefined);
      await longRun.result().catch(() => undefined);
    }
    await browser?.close();
    await stalled?.stop();
    await h.dropIndexes();
    await h.stop();
  });

  it('finds the failed document by Tenant and DocStatus and shows its failure type and reason; keeps a screenshot', async () => {
    await h.put('ui/good.md', '# Good\n\nA perfectly fine Markdown document.');
    await h.put(POISON, '%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref');
    const counts = await h.ingestAll('ui/');
    assert.equal(counts.ingested, 1, JSON.stringify(counts));
    assert.equal(counts.failed, 1, JSON.stringify(counts));
    const failure = (await h.ledger.get(h.spec.tenant, h.uri(POISON)))?.lastError;
    assert.equal(failure?.type, 'CorruptDocument');
    const id = documentWorkflowId(h.spec, h.uri(POISON));

    const query = `Tenant = "${h.spec.tenant}" AND DocStatus = "failed"`;
    await visible(query, 1);
    await filter(query, 1);
    await page.getByRole('link', { name: id, exact: true }).click();

    await page.getByTestId('workflow-id-heading').getByText(id).waitFor();
    // The run's result, as the page shows it: the failure type and the reason the parser gave.
    const result = page.getByTestId('input-and-result');
    await result.getByText(`"type": "CorruptDocument"`).waitFor();
    await result.getByText(`"message": ${JSON.stringify(failure!.message)}`).waitFor();
    const dir = artifactsDir('temporal-ui');
    await page.screenshot({ path: join(dir, 'failed-document.png'), fullPage: true });

    // Its summary, and the activity that failed, named by the document.
    await page.getByTestId('user-metadata-tab').click();
    await rendered(documentSummary(pipelineRef(h.spec), h.uri(POISON)));
    await page.getByText('fetch and parse broken.pdf', { exact: true }).waitFor();
    await page.screenshot({ path: join(dir, 'failed-document-metadata.png'), fullPage: true });
  });

  it('pauses a running source run with the Signal dialog; the SDK and `ingest runs describe` see it paused', async () => {
    for (let i = 0; i < 5; i++) await stalled.put(`long/doc-${i}.md`, `# Note ${i}\n\nWaits for an embedder.`);
    const uri = stalled.uri('long/');
    longRun = await stalled.client.startIngest(uri);
    await eventually(async () => ((await longRun!.progress()).inFlight === 1 ? true : undefined), 60_000, 'a document in flight');

    const query = `Tenant = "${h.spec.tenant}" AND WorkflowType = "sourceWorkflow" AND ExecutionStatus = "Running"`;
    await visible(query, 1);
    await filter(query, 1);
    await page.getByRole('link', { name: longRun.workflowId, exact: true }).click();
    await page.getByTestId('workflow-id-heading').getByText(longRun.workflowId).waitFor();

    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    // The page holds the dialog twice (one per layout); the visible one is the operator's.
    const dialog = page.getByTestId('signal-confirmation-modal').filter({ visible: true });
    await dialog.getByTestId('signal-select-button').click();
    // The names come from the workflow's own definitions (its metadata query): pause, resume, throttle.
    await dialog.getByRole('option', { name: 'pause', exact: true }).click();
    await dialog.getByTestId('confirm-modal-button').click();
    await dialog.waitFor({ state: 'hidden' });

    // The signal is in the run's history once the dialog closes; the query answers once the worker applied it.
    const progress = await eventually(
      async () => {
        const p = await longRun!.progress();
        return p.paused ? p : undefined;
      },
      30_000,
      'the run to apply the pause signal',
    );
    assert.equal(progress.done, false);
    const specFile = join(stalled.dataDir, 'pipeline.json');
    writeFileSync(specFile, JSON.stringify(stalled.spec));
    const { stdout } = await exec(
      process.execPath,
      [join(root, 'cli', 'ingest.ts'), '--pipeline', specFile, 'runs', 'describe', uri, '--json'],
      { cwd: root, env: cliEnv() },
    );
    const described = JSON.parse(stdout) as { status: string; paused: boolean };
    assert.equal(described.status, 'running');
    assert.equal(described.paused, true, stdout);

    // The run's page says so too: its summary, and its current details (from the worker) once reloaded.
    await page.reload();
    await page.getByTestId('user-metadata-tab').click();
    await rendered(sourceRunSummary(pipelineRef(stalled.spec), uri));
    await rendered(/^Paused: listing page 1/);

    await longRun.cancel();
    await assert.rejects(longRun.result(), (err) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    longRun = undefined;
  });
});
