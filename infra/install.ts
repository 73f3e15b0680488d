import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isAlive } from './supervisor.ts';

export class InstallError extends Error {
  override name = 'InstallError';
}

/** Runs a command to completion with its output appended to `logFile`; throws with the log's path on failure. */
export async function run(
  what: string,
  command: string,
  args: string[],
  opts: { logFile: string; env?: Record<string, string>; cwd?: string; uid?: number; gid?: number },
): Promise<void> {
  mkdirSync(join(opts.logFile, '..'), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
    uid: opts.uid,
    gid: opts.gid,
  });
  closeSync(fd);
  const code = await new Promise<number>((resolve) => {
    child.once('exit', (c) => resolve(c ?? 1));
    child.once('error', () => resolve(127));
  });
  if (code === 127) throw new InstallError(`${what}: '${command}' was not found on PATH (log: ${opts.logFile})`);
  if (code !== 0) throw new InstallError(`${what}: '${command} ${args.join(' ')}' exited ${code} (log: ${opts.logFile})`);
}

/**
 * Installs a Go command at a pinned version into `<cache>/go-bin/<name>-<version>/`. The binary appears only
 * once the build succeeded (built in a scratch folder, then renamed), so an interrupted build is simply redone.
 */
export async function goInstall(opts: {
  cacheDir: string;
  name: string;
  module: string;
  version: string;
  binary: string;
  env?: Record<string, string>;
  log: (line: string) => void;
}): Promise<string> {
  const dir = join(opts.cacheDir, 'go-bin', `${opts.name}-${opts.version}`);
  const bin = join(dir, opts.binary);
  if (existsSync(bin)) return bin;
  const scratch = `${dir}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  opts.log(`installing ${opts.name} ${opts.version} with 'go install' (a cold build takes minutes)`);
  await run(`install ${opts.name}`, 'go', ['install', `${opts.module}@${opts.version}`], {
    logFile: join(opts.cacheDir, 'logs', `install-${opts.name}.log`),
    env: { GOBIN: scratch, GOFLAGS: '-buildvcs=false', GOTOOLCHAIN: 'local', ...opts.env },
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  return bin;
}

/** Copies a Maven artifact and its runtime dependencies into `<cache>/<name>-<version>/libs`. */
export async function mavenInstall(opts: {
  cacheDir: string;
  name: string;
  version: string;
  artifacts: Array<{ groupId: string; artifactId: string; version: string }>;
  log: (line: string) => void;
}): Promise<string> {
  const dir = join(opts.cacheDir, `${opts.name}-${opts.version}`);
  const libs = join(dir, 'libs');
  if (existsSync(join(dir, '.complete'))) return libs;
  opts.log(`installing ${opts.name} ${opts.version} jars from Maven Central`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const deps = opts.artifacts
    .map(
      (a) =>
        `<dependency><groupId>${a.groupId}</groupId><artifactId>${a.artifactId}</artifactId><version>${a.version}</version></dependency>`,
    )
    .join('\n    ');
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ragline</groupId><artifactId>${opts.name}-runtime</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    ${deps}
  </dependencies>
</project>
`,
  );
  await run(
    `install ${opts.name}`,
    'mvn',
    ['-B', '-q', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${libs}`],
    {
      cwd: dir,
      logFile: join(opts.cacheDir, 'logs', `install-${opts.name}.log`),
    },
  );
  writeFileSync(join(dir, '.complete'), new Date().toISOString());
  return libs;
}

/**
 * A Python virtual environment with exactly `requirements`, at `<cache>/venv-<hash>`: the hash covers the pins and
 * the interpreter, so changing either builds a fresh one and never mutates an environment a running server uses.
 */
/** The folder `pythonVenv` makes for these requirements (it may not exist yet). */
export function pythonVenvDir(opts: { cacheDir: string; python: string; requirements: string[] }): string {
  const key = createHash('sha256')
    .update(`${opts.python}\n${opts.requirements.join('\n')}`)
    .digest('hex')
    .slice(0, 12);
  return join(opts.cacheDir, `venv-${key}`);
}

export async function pythonVenv(opts: {
  cacheDir: string;
  python: string;
  requirements: string[];
  log: (line: string) => void;
}): Promise<string> {
  const dir = pythonVenvDir(opts);
  if (existsSync(join(dir, '.complete'))) return dir;
  // A venv cannot be built aside and renamed into place (its scripts name their own path), so two processes that
  // want the same one (a test run beside `infra:up`, two test files) take turns: the first builds, the others wait
  // for `.complete`. A lock left by a process that died is taken over.
  const lock = `${dir}.lock`;
  mkdirSync(opts.cacheDir, { recursive: true });
  for (let waited = 0; ; waited++) {
    if (existsSync(join(dir, '.complete'))) return dir;
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = lockOwner(lock);
    // Its owner died, or never wrote its pid (killed between the two steps, after half a minute of waiting).
    if ((owner > 0 && !isAlive(owner)) || (owner === 0 && waited >= 30)) rmSync(lock, { recursive: true, force: true });
    else if (waited % 30 === 0) opts.log(`waiting for process ${owner || '?'} to finish the Python venv ${dir}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    if (existsSync(join(dir, '.complete'))) return dir;
    opts.log(`creating Python venv with ${opts.requirements.join(' ')}`);
    const logFile = join(opts.cacheDir, 'logs', 'install-venv.log');
    rmSync(dir, { recursive: true, force: true });
    await run('create venv', opts.python, ['-m', 'venv', dir], { logFile });
    await run(
      'install Python servers',
      join(dir, 'bin', 'pip'),
      ['install', '--disable-pip-version-check', ...opts.requirements],
      { logFile },
    );
    writeFileSync(join(dir, '.complete'), new Date().toISOString());
    return dir;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The pid a lock folder names; 0 while its owner has not written it yet (or the lock just went). */
function lockOwner(lock: string): number {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8')) || 0;
  } catch {
    return 0;
  }
}

/**
 * Fetches an npm package at a pinned version with `npm pack` (the registry and npm's own cache, never package.json)
 * and unpacks it into `<cache>/<name>-<version>/package`. The tarball must match `integrity` (the registry's sha512,
 * pinned here so a republished or tampered tarball is refused). `prepare` runs on the unpacked folder before it is
 * published by a rename, so an interrupted install is simply redone.
 */
export async function npmPackInstall(opts: {
  cacheDir: string;
  name: string;
  spec: string;
  version: string;
  integrity: string;
  prepare?: (dir: string) => Promise<void> | void;
  log: (line: string) => void;
}): Promise<string> {
  const dir = join(opts.cacheDir, `${opts.name}-${opts.version}`);
  const pkg = join(dir, 'package');
  if (existsSync(join(dir, '.complete'))) return pkg;
  const scratch = `${dir}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  opts.log(`installing ${opts.name} ${opts.version} from the npm registry (${opts.spec}@${opts.version})`);
  const logFile = join(opts.cacheDir, 'logs', `install-${opts.name}.log`);
  await run(`fetch ${opts.spec}`, 'npm', ['pack', `${opts.spec}@${opts.version}`, '--pack-destination', scratch, '--silent'], {
    logFile,
  });
  const tgz = readdirSync(scratch).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new InstallError(`fetch ${opts.spec}: npm pack wrote no tarball (log: ${logFile})`);
  const [algo, expected] = opts.integrity.split('-', 2) as [string, string];
  const actual = createHash(algo)
    .update(readFileSync(join(scratch, tgz)))
    .digest('base64');
  if (actual !== expected)
    throw new InstallError(`fetch ${opts.spec}@${opts.version}: tarball ${algo} ${actual} is not the pinned ${expected}`);
  await run(`unpack ${opts.spec}`, 'tar', ['-xzf', tgz, '--no-same-owner'], { cwd: scratch, logFile });
  rmSync(join(scratch, tgz));
  await opts.prepare?.(join(scratch, 'package'));
  writeFileSync(join(scratch, '.complete'), new Date().toISOString());
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  return pkg;
}

/**
 * Fetches a Debian package at a pinned version with `apt-get download` (the host's apt sources, nothing installed, no
 * root paths touched) and unpacks it with `dpkg-deb -x` into `<cache>/<name>-<version>/root`. The .deb must match
 * `sha256` (the archive's Packages index lists it: `apt-cache show <pkg>=<version>`). `prepare` runs on the unpacked
 * tree (e.g. to check the binary starts) before it is published by a rename, so an interrupted install is simply redone.
 */
export async function debInstall(opts: {
  cacheDir: string;
  name: string;
  pkg: string;
  version: string;
  arch: string;
  sha256: string;
  prepare?: (root: string, logFile: string) => Promise<void> | void;
  log: (line: string) => void;
}): Promise<string> {
  const dir = join(opts.cacheDir, `${opts.name}-${opts.version}`);
  const root = join(dir, 'root');
  if (existsSync(join(dir, '.complete'))) return root;
  const scratch = `${dir}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const spec = `${opts.pkg}:${opts.arch}=${opts.version}`;
  opts.log(`installing ${opts.name} ${opts.version} from the Debian archive (apt-get download ${spec})`);
  const logFile = join(opts.cacheDir, 'logs', `install-${opts.name}.log`);
  await run(`fetch ${spec}`, 'apt-get', ['download', spec], { cwd: scratch, logFile });
  const deb = readdirSync(scratch).find((f) => f.endsWith('.deb'));
  if (!deb) throw new InstallError(`fetch ${spec}: apt-get download wrote no .deb (log: ${logFile})`);
  const actual = createHash('sha256')
    .update(readFileSync(join(scratch, deb)))
    .digest('hex');
  if (actual !== opts.sha256) throw new InstallError(`fetch ${spec}: ${deb} sha256 ${actual} is not the pinned ${opts.sha256}`);
  await run(`unpack ${deb}`, 'dpkg-deb', ['-x', deb, 'root'], { cwd: scratch, logFile });
  rmSync(join(scratch, deb));
  await opts.prepare?.(join(scratch, 'root'), logFile);
  writeFileSync(join(scratch, '.complete'), new Date().toISOString());
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  return root;
}
