// `node bench/corpus.ts`: builds the chunking benchmark's prose corpus (about 14 MB) from pinned Debian packages, in
// ~/.cache/ragline/corpus, and prints `{ path, bytes, sha256 }`. Debian is a registry this machine reaches, and its
// documentation packages hold real prose: the Python 3.11 manual (its reStructuredText sources, prose with some code
// and tables), the Debian Reference, the GNU coding standards, and Chinese fortunes (classical poems and sayings) so
// the corpus is not ASCII-only. Each .deb is checked against its sha256, and so is the assembled corpus.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

interface DebPackage {
  name: string;
  version: string;
  sha256: string;
  /** Files inside the package, in corpus order; a folder stands for every `*.txt` file under it, sorted. */
  files: string[];
}

// bookworm main (not -security), whose versions change only at point releases.
const PACKAGES: readonly DebPackage[] = [
  {
    name: 'python3.11-doc',
    version: '3.11.2-6+deb12u8',
    sha256: '50eb63e7f636c4281e9ce1b8f10386f1def42159eddce34fc1f41c46261df71b',
    files: ['usr/share/doc/python3.11/html/_sources/'],
  },
  {
    name: 'debian-reference-en',
    version: '2.100',
    sha256: '9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f',
    files: ['usr/share/debian-reference/debian-reference.en.txt.gz'],
  },
  {
    name: 'gnu-standards',
    version: '2022.03.23-0.1',
    sha256: '2087dda531c69d8505856a45e0334746f3f25211a237c95d375eed13a7d8c201',
    files: ['usr/share/doc/gnu-standards/standards.text.gz', 'usr/share/doc/gnu-standards/maintain.text.gz'],
  },
  {
    name: 'fortunes-zh',
    version: '2.98',
    sha256: '211c5ddee59d0ae74ce01cbfd02f7c8714740bae1835d5661eb2254edd739105',
    files: ['usr/share/games/fortunes/chinese', 'usr/share/games/fortunes/tang300', 'usr/share/games/fortunes/song100'],
  },
];

/** sha256 of the assembled corpus; a different value means the inputs or the assembly changed. */
export const CORPUS_SHA256 = '1cd7cfbeed16da909235b979d4eefa8b6d9f5c70a4c9ecc895bcb2b870cadd0d';
export const CORPUS_VERSION = 'v1';

export const corpusDir = (env: NodeJS.ProcessEnv = process.env): string =>
  join(env.RAGLINE_CACHE || join(homedir(), '.cache', 'ragline'), 'corpus');

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function fetchDeb(pkg: DebPackage, debDir: string): string {
  const file = join(debDir, `${pkg.name}_${pkg.version.replace(/^\d+:/, '')}_all.deb`);
  if (!existsSync(file)) {
    try {
      // apt-get download writes into the current folder; it needs `apt-get update` to have run once.
      execFileSync('apt-get', ['download', `${pkg.name}=${pkg.version}`], { cwd: debDir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
      throw new Error(
        `corpus: cannot download ${pkg.name}=${pkg.version} with apt-get (run \`apt-get update\` first, or pass --corpus FILE): ${stderr}`,
        { cause: err },
      );
    }
  }
  const got = sha256(readFileSync(file));
  if (got !== pkg.sha256) throw new Error(`corpus: ${file} has sha256 ${got}, expected ${pkg.sha256}`);
  return file;
}

function txtFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    // Plain code-unit order, not locale order, so the corpus is the same on every machine.
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.txt')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

function readText(path: string): string {
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  // The fortunes colour their text with ANSI escapes; `%` lines separate fortunes.
  // eslint-disable-next-line no-control-regex -- matching the escape character is the point
  return text.replace(/\x1b\[[0-9;]*m/g, '').replace(/^%$/gm, '');
}

export interface Corpus {
  path: string;
  bytes: number;
  sha256: string;
}

/** Builds the corpus once (downloads about 17 MB of .deb files) and returns it from the cache afterwards. */
export function ensureCorpus(): Corpus {
  const dir = corpusDir();
  const path = join(dir, `corpus-${CORPUS_VERSION}.txt`);
  if (existsSync(path)) {
    const data = readFileSync(path);
    return { path, bytes: data.length, sha256: sha256(data) };
  }
  const debDir = join(dir, 'debs');
  mkdirSync(debDir, { recursive: true });
  const parts: string[] = [];
  for (const pkg of PACKAGES) {
    const deb = fetchDeb(pkg, debDir);
    const root = join(dir, 'extract', pkg.name);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    execFileSync('dpkg-deb', ['-x', deb, root]);
    for (const f of pkg.files) {
      const files = f.endsWith('/') ? txtFilesUnder(join(root, f)) : [join(root, f)];
      for (const file of files) parts.push(readText(file).trim());
    }
  }
  rmSync(join(dir, 'extract'), { recursive: true, force: true });
  const data = Buffer.from(parts.join('\n\n\n') + '\n', 'utf8');
  const digest = sha256(data);
  if (digest !== CORPUS_SHA256) {
    throw new Error(`corpus: assembled corpus has sha256 ${digest}, expected ${CORPUS_SHA256}; it is not the benchmarked one`);
  }
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
  return { path, bytes: data.length, sha256: digest };
}

if (import.meta.main) console.log(JSON.stringify(ensureCorpus()));
