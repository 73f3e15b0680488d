#!/usr/bin/env node
import { Command, Option } from 'commander';
import { loadStackConfig, StackConfigError } from './config.ts';
import { SERVICE_NAMES, type ServiceName } from './service.ts';
import { Stack, StackUpError } from './stack.ts';

function parseServices(names: string[]): ServiceName[] {
  if (names.length === 0) return [...SERVICE_NAMES];
  const bad = names.filter((n) => !(SERVICE_NAMES as readonly string[]).includes(n));
  if (bad.length > 0) throw new StackConfigError(`unknown service(s): ${bad.join(', ')} (known: ${SERVICE_NAMES.join(', ')})`);
  return names as ServiceName[];
}

function stack(quiet = false): Stack {
  const log = quiet ? () => undefined : (line: string) => console.error(`[infra] ${line}`);
  return new Stack(loadStackConfig(), log);
}

export function infraCommand(): Command {
  const cmd = new Command('infra').description(
    'the local stack: Temporal, Kafka, S3, Weaviate, Milvus, Chroma, PostgreSQL, Prometheus',
  );

  cmd
    .command('up')
    .description('install (cached) and start the local stack, or the named services and what they need')
    .argument('[services...]', `any of ${SERVICE_NAMES.join(', ')}`)
    .action(async (names: string[]) => {
      const s = stack();
      const started = Date.now();
      await s.up(parseServices(names));
      const status = await s.status();
      printTable(status);
      console.error(`[infra] up in ${((Date.now() - started) / 1000).toFixed(1)}s; data and logs in ${s.config.dataDir}`);
    });

  cmd
    .command('down')
    .description('stop the services this stack started (all, or the named ones)')
    .argument('[services...]')
    .action(async (names: string[]) => {
      const stopped = await stack().down(parseServices(names));
      console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
    });

  cmd
    .command('status')
    .description('health, version and endpoint of each service; exits 3 when any is not ok')
    .addOption(new Option('--json', 'print one JSON object keyed by service'))
    .action(async (opts: { json?: boolean }) => {
      const status = await stack(true).status();
      if (opts.json) console.log(JSON.stringify(status));
      else printTable(status);
      if (Object.values(status).some((s) => !s.ok)) process.exitCode = 3;
    });

  return cmd;
}

function printTable(status: Awaited<ReturnType<Stack['status']>>): void {
  for (const [name, s] of Object.entries(status)) {
    const mark = s.ok ? 'ok  ' : 'DOWN';
    const extra = Object.entries(s.extra ?? {}).map(([k, v]) => `${k} ${v}`);
    const notes = [...extra, ...(s.detail ? [s.detail] : [])].join(', ');
    console.log(`${mark} ${name.padEnd(10)} ${s.version.padEnd(26)} ${s.endpoint.padEnd(24)} ${notes}`.trimEnd());
  }
}

export async function main(argv: string[]): Promise<void> {
  try {
    await infraCommand().parseAsync(argv);
  } catch (err) {
    if (err instanceof StackUpError || err instanceof StackConfigError) {
      console.error(`infra: ${err.message}`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

if (import.meta.main) await main(process.argv);
