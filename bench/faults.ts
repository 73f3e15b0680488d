// `npm run bench:faults -- --json [--only name,name] [--skip-long] [--list]`: runs every fault scenario of
// test/support/fault-scenarios.ts one after another on the running local stack and reports, per scenario, documents
// lost, duplicate vectors, ledger-vs-sink drift and the time from the fault to the end of the run. The target is 0 / 0 /
// 0 in every scenario. Scenarios stop and start servers of the stack (Temporal, Kafka, Chroma, Milvus, PostgreSQL):
// run it on a stack nobody else is using (see RAGLINE_DATA and the RAGLINE_*_PORT settings in infra/config.ts).
// Prints one JSON object; progress goes to stderr. `--skip-long` runs only what `npm test` runs.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { SCENARIOS, scenario, type FaultReport } from '../test/support/fault-scenarios.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean' },
    /** Comma-separated scenario names (default: all of them). */
    only: { type: 'string' },
    /** Only the scenarios `npm test` runs (kill points, storms). */
    'skip-long': { type: 'boolean' },
    /** Prints the scenario names and exits. */
    list: { type: 'boolean' },
  },
});

const progress = (msg: string): void => void process.stderr.write(`[bench:faults] ${msg}\n`);

async function main(): Promise<void> {
  if (args.list) {
    for (const s of SCENARIOS) console.log(`${s.name}${s.long ? ' (long)' : ''}`);
    return;
  }
  const chosen = args.only
    ? args.only.split(',').filter(Boolean).map(scenario)
    : SCENARIOS.filter((s) => !(args['skip-long'] && s.long));
  const scenarios: Record<string, Omit<FaultReport, 'problems'> & { problems?: string[] }> = {};
  const started = Date.now();
  for (const s of chosen) {
    progress(`${s.name}: running`);
    const { problems, ...r } = await s.run();
    scenarios[s.name] = problems.length > 0 ? { ...r, problems } : r;
    progress(`${s.name}: ${JSON.stringify(scenarios[s.name])}`);
  }
  const all = Object.values(scenarios);
  const result = {
    scenarios,
    clean: all.every((r) => r.lost === 0 && r.duplicates === 0 && r.drift === 0 && !r.problems),
    totalMs: Date.now() - started,
    cores: availableParallelism(),
  };
  console.log(args.json ? JSON.stringify(result) : result);
}

await main();
// Clients of the scenarios (the Temporal connection's native runtime, Kafka admin sockets) may keep the loop alive.
process.exit(0);
