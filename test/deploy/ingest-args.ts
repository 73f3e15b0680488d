import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const GLOBAL_OPTIONS = ['--pipeline', '--tenant'];

/** One `ingest` command line as a deployment starts it: global options, the subcommand, its options. */
export interface IngestArgs {
  pipeline?: string;
  command: string;
  role?: string;
}

/**
 * Checks that `args` (what the image's entrypoint `node cli/ingest.ts` receives) is a command this checkout's CLI
 * knows: the subcommand exists (its help names it), every option is one of its own or a global one, and a `--role`
 * is one of the choices the CLI offers. Asks the real CLI (`... --help`), so a renamed command or role fails here.
 */
export function checkIngestArgs(args: string[], where: string): IngestArgs {
  const globals = new Map<string, string>();
  let i = 0;
  while (i < args.length && args[i]!.startsWith('--')) {
    const flag = args[i]!;
    assert.ok(GLOBAL_OPTIONS.includes(flag), `${where}: ${flag} is not a global option of ingest`);
    globals.set(flag, args[i + 1]!);
    i += 2;
  }
  const command = args[i];
  assert.ok(command, `${where}: no ingest subcommand in ${JSON.stringify(args)}`);
  const rest = args.slice(i + 1);
  const res = spawnSync(process.execPath, [join(ROOT, 'cli', 'ingest.ts'), ...args, '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.equal(res.status, 0, `${where}: ingest ${args.join(' ')} --help exited ${res.status}: ${res.stderr}`);
  const help = res.stdout;
  assert.match(help, new RegExp(`^Usage: ingest ${command} `, 'm'), `${where}: ingest has no command ${command}`);
  for (const flag of rest.filter((a) => a.startsWith('--'))) {
    assert.ok(help.includes(`${flag} `) || help.includes(`${flag}=`), `${where}: ingest ${command} has no option ${flag}`);
  }
  const roleAt = rest.indexOf('--role');
  const role = roleAt >= 0 ? rest[roleAt + 1] : undefined;
  if (role !== undefined) {
    const choices = /--role <role>[\s\S]*?\(choices: ([^)]*)\)/.exec(help)?.[1] ?? '';
    assert.ok(choices.includes(`"${role}"`), `${where}: --role ${role} is not one of ${choices}`);
  }
  return { pipeline: globals.get('--pipeline'), command, role };
}

/** What a started `ingest` process does: its worker role, `trigger`, or another command. */
export function processKind(a: IngestArgs): 'ingest' | 'embed' | 'all' | 'trigger' | 'other' {
  if (a.command === 'trigger') return 'trigger';
  if (a.command !== 'worker') return 'other';
  const role = a.role ?? 'all';
  return role === 'ingest' || role === 'embed' || role === 'trigger' ? role : 'all';
}
