#!/usr/bin/env node
// The `ingest` command. Today it manages the local stack; the pipeline commands (run, status, search, ...) build on it.
import { Command } from 'commander';
import { loadStackConfig } from '../infra/config.ts';
import { infraCommand, main as infraMain } from '../infra/cli.ts';
import { Stack } from '../infra/stack.ts';

const program = new Command('ingest').description('ragline: durable document ingestion for semantic search and RAG');

for (const sub of ['up', 'down', 'status'] as const) {
  const infraSub = infraCommand().commands.find((c) => c.name() === sub);
  program
    .command(sub)
    .description(infraSub?.description() ?? '')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => infraMain(['node', 'infra', sub, ...args]));
}

program
  .command('demo')
  .description('bring up the local stack and show where everything is')
  .action(async () => {
    await infraMain(['node', 'infra', 'up']);
    if (process.exitCode) return;
    const config = loadStackConfig();
    const status = await new Stack(config).status();
    console.log(`
The local stack is up. Open the Temporal UI at ${status.temporal.extra?.ui ?? ''} (namespace ${config.temporalNamespace}).
Stop everything with: npm run infra:down`);
  });

await program.parseAsync(process.argv);
