// `node bench/embed-ratelimit.ts [--docs 120] [--chunks 8] [--limit 60] [--window-ms 10000] [--procs 2] [--mode both]`
// A local OpenAI-shaped server allows `limit` requests per window (sliding, answering 429 with Retry-After and
// x-ratelimit-* beyond it). `procs` worker processes embed a generated corpus, one document per embedDocuments call
// (as the embed activity does), 4 documents at a time each, sharing one SQLite rate budget ("shared") or each with
// its own in-memory budget of the same size ("per-process", the failure mode the shared budget exists for). A call
// still limited after `maxWaitMs` is retried after its retryAfterMs, as Temporal would. Prints one JSON object;
// the server's arrival log is the judge of "never exceeded". 60 requests per 60 s is the same run, 6x slower.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbedInputsError } from '../connectors/embedders/hosted.ts';
import { createOpenAICompatibleEmbedder } from '../connectors/embedders/openai-compatible.ts';
import { createSqliteRateBudget } from '../connectors/embedders/rate-budget-sqlite.ts';
import { createMemoryRateBudget } from '../connectors/embedders/rate-budget.ts';
import { ConnectorError } from '../connectors/shared/errors.ts';
import { startOpenAIFake } from '../test/contract/fakes/openai.ts';

const { values: a } = parseArgs({
  options: {
    docs: { type: 'string', default: '120' },
    chunks: { type: 'string', default: '8' },
    limit: { type: 'string', default: '60' },
    'window-ms': { type: 'string', default: '10000' },
    procs: { type: 'string', default: '2' },
    mode: { type: 'string', default: 'both' },
    // Child-only.
    child: { type: 'boolean' },
    url: { type: 'string' },
    db: { type: 'string' },
    budget: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
  },
});
const LIMIT = Number(a.limit);
const WINDOW = Number(a['window-ms']);
const CHUNKS = Number(a.chunks);

function chunk(doc: number, i: number): string {
  return `Document ${doc}, chunk ${i}: rate limits slow ingestion down but never fail a document.`;
}

async function child(): Promise<void> {
  const budget =
    a.budget === 'shared'
      ? createSqliteRateBudget({ path: a.db!, name: 'bench', requestsPerWindow: LIMIT, windowMs: WINDOW, pollMs: 20 })
      : createMemoryRateBudget({ requestsPerWindow: LIMIT, windowMs: WINDOW });
  const embedder = createOpenAICompatibleEmbedder(
    { baseUrl: `${a.url}/v1`, model: 'text-embedding-3-small', dims: 1536, maxInputs: CHUNKS, maxWaitMs: 2 * WINDOW },
    { budget },
  );
  const docs = Array.from({ length: Number(a.to) - Number(a.from) }, (_, i) => Number(a.from) + i);
  const stats = { docs: docs.length, ok: 0, failed: 0, activityRetries: 0, vectors: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < docs.length) {
        const d = docs[next++]!;
        for (;;) {
          try {
            const vectors = await embedder.embedDocuments(Array.from({ length: CHUNKS }, (_, i) => chunk(d, i)));
            stats.vectors += vectors.length;
            stats.ok++;
            break;
          } catch (err) {
            if (err instanceof ConnectorError && err.retryable && !(err instanceof EmbedInputsError)) {
              stats.activityRetries++;
              await new Promise((r) => setTimeout(r, err.retryAfterMs ?? 1000));
              continue;
            }
            stats.failed++;
            break;
          }
        }
      }
    }),
  );
  await embedder.close();
  await budget.close();
  process.stdout.write(JSON.stringify(stats));
}

async function run(mode: 'shared' | 'per-process') {
  const server = await startOpenAIFake({ rateLimit: { requests: LIMIT, windowMs: WINDOW }, latencyMs: 30 });
  const dir = mkdtempSync(join(tmpdir(), 'ragline-bench-rl-'));
  const docs = Number(a.docs);
  const procs = Number(a.procs);
  const t0 = Date.now();
  try {
    const results = await Promise.all(
      Array.from({ length: procs }, (_, p) => {
        const from = Math.floor((p * docs) / procs);
        const to = Math.floor(((p + 1) * docs) / procs);
        const args = [import.meta.filename, '--child', '--url', server.url, '--db', join(dir, 'budget.db'), '--budget', mode];
        args.push('--from', String(from), '--to', String(to), '--limit', String(LIMIT), '--window-ms', String(WINDOW));
        args.push('--chunks', String(CHUNKS));
        return new Promise<Record<string, number>>((resolve, reject) => {
          const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
        });
      }),
    );
    const elapsedMs = Date.now() - t0;
    const sum = (k: string) => results.reduce((s, r) => s + r[k]!, 0);
    const accepted = server.log.filter((e) => e.status === 200).length;
    return {
      mode,
      processes: procs,
      documents: sum('docs'),
      documentsOk: sum('ok'),
      documentsFailed: sum('failed'),
      vectors: sum('vectors'),
      activityRetries: sum('activityRetries'),
      server: {
        requests: server.log.length,
        accepted,
        byStatus: server.statusCounts(),
        maxArrivalsInAnyWindow: server.maxArrivalsInWindow(WINDOW),
        maxAcceptedInAnyWindow: maxIn(
          server.log.filter((e) => e.status === 200).map((e) => e.at),
          WINDOW,
        ),
      },
      elapsedMs,
      // A sliding window of `limit` admits request k no earlier than floor(k / limit) windows after the first.
      lowerBoundMs: Math.floor((accepted - 1) / LIMIT) * WINDOW,
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function maxIn(times: number[], w: number): number {
  times.sort((x, y) => x - y);
  let best = 0;
  for (let hi = 0, lo = 0; hi < times.length; hi++) {
    while (times[lo]! <= times[hi]! - w) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

if (a.child) {
  await child();
} else {
  const modes = a.mode === 'both' ? (['shared', 'per-process'] as const) : ([a.mode] as ['shared' | 'per-process']);
  const runs = [];
  for (const m of modes) runs.push(await run(m));
  const requests = Number(a.docs);
  console.log(
    JSON.stringify(
      {
        budget: { requestsPerWindow: LIMIT, windowMs: WINDOW },
        corpus: { documents: requests, chunksPerDocument: CHUNKS, requestsNeeded: requests },
        at60PerMinuteMs: Math.floor((requests - 1) / 60) * 60_000,
        runs,
      },
      null,
      2,
    ),
  );
}
