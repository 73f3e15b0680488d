import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../config.ts';
import { debInstall, InstallError, run } from '../install.ts';
import { DEB_SHA256, VERSIONS } from '../versions.ts';

/**
 * Headless Chromium for the browser tests (Playwright drives it through `executablePath`; Playwright's own browser
 * download is not used). Debian's `chromium` and `chromium-common` packages are fetched with `apt-get download`,
 * sha256-pinned and unpacked into the cache like Prometheus; nothing of Chromium itself goes under /usr.
 *
 * Its shared libraries are the host's: a browser links about a hundred of them (NSS, GLib, Cairo, Pango, ALSA, ...),
 * and they must match the host's libc and each other. When some are missing and we run as root (CI on a clean Debian
 * machine), the library packages Chromium's own `Depends` names are installed with `apt-get install` from the host's
 * signed archive, at the versions that archive holds; otherwise the install fails and names the missing libraries and
 * the command that adds them.
 */
export interface ChromiumPaths {
  /** The browser binary (the `chromium` wrapper script is Debian's launcher; Playwright wants the binary itself). */
  executable: string;
}

/**
 * The library packages of chromium's `Depends` (first of each alternative), as Debian 12 lists them for the pinned
 * version (`apt-cache show chromium=<version>`): what `apt-get install chromium` would add. `chromium-common` is
 * unpacked instead, and its desktop tools (x11-utils, xdg-utils) are not needed headless.
 */
export const CHROMIUM_LIBRARY_PACKAGES = [
  'libasound2',
  'libatk-bridge2.0-0',
  'libatk1.0-0',
  'libatspi2.0-0',
  'libcairo2',
  'libcups2',
  'libdav1d6',
  'libdbus-1-3',
  'libdouble-conversion3',
  'libexpat1',
  'libflac12',
  'libfontconfig1',
  'libfreetype6',
  'libgbm1',
  'libglib2.0-0',
  'libharfbuzz-subset0',
  'libharfbuzz0b',
  'libjpeg62-turbo',
  'liblcms2-2',
  'libminizip1',
  'libnspr4',
  'libnss3',
  'libopenh264-7',
  'libopenjp2-7',
  'libopus0',
  'libpango-1.0-0',
  'libpulse0',
  'libudev1',
  'libx11-6',
  'libxcb1',
  'libxcomposite1',
  'libxdamage1',
  'libxext6',
  'libxfixes3',
  'libxkbcommon0',
  'libxnvctrl0',
  'libxrandr2',
  'libzstd1',
  'zlib1g',
  'libgtk-3-0',
] as const;

/** Installed beside the libraries when the machine has no font at all (text in screenshots needs one). */
const FONT_PACKAGE = 'fonts-liberation';

function root(config: StackConfig): string {
  return join(config.cacheDir, `chromium-${VERSIONS.chromium}`, 'root');
}

export function chromiumPaths(config: StackConfig): ChromiumPaths {
  return { executable: join(root(config), 'usr', 'lib', 'chromium', 'chromium') };
}

/** What keeps Chromium from running here, as readable lines (empty when it is installed and its libraries resolve). */
export function missingChromium(config: StackConfig): string[] {
  const { executable } = chromiumPaths(config);
  if (!existsSync(join(root(config), '..', '.complete'))) return [`Chromium ${VERSIONS.chromium} (${root(config)})`];
  const libs = missingLibraries(executable);
  return libs.length > 0 ? [`Chromium's shared libraries ${libs.join(', ')}`] : [];
}

/** Sonames the dynamic linker cannot find for `binary` (ldd prints `libfoo.so.1 => not found`). */
export function missingLibraries(binary: string): string[] {
  const out = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (out.error) throw new InstallError(`ldd ${binary}: ${out.error.message}`);
  return [...out.stdout.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1]!).sort();
}

/** Idempotent and cached: returns at once when the pinned browser is unpacked and its libraries resolve. */
export async function installChromium(config: StackConfig, log: (line: string) => void): Promise<ChromiumPaths> {
  const paths = chromiumPaths(config);
  // chromium-common holds the resources (locales, .pak files) the binary loads from its own folder.
  const common = await debInstall({
    cacheDir: config.cacheDir,
    name: 'chromium-common',
    pkg: 'chromium-common',
    version: VERSIONS.chromium,
    arch: 'amd64',
    sha256: DEB_SHA256.chromiumCommon,
    log,
  });
  await debInstall({
    cacheDir: config.cacheDir,
    name: 'chromium',
    pkg: 'chromium',
    version: VERSIONS.chromium,
    arch: 'amd64',
    sha256: DEB_SHA256.chromium,
    prepare: (dir) => cpSync(common, dir, { recursive: true }),
    log,
  });
  await ensureLibraries(config, paths.executable, log);
  // A complete install is one whose binary starts here.
  await run('check chromium', paths.executable, ['--headless', '--no-sandbox', '--version'], {
    logFile: join(config.cacheDir, 'logs', 'install-chromium.log'),
  });
  return paths;
}

async function ensureLibraries(config: StackConfig, executable: string, log: (line: string) => void): Promise<void> {
  const missing = missingLibraries(executable);
  if (missing.length === 0) return;
  const packages = [...CHROMIUM_LIBRARY_PACKAGES, ...(hasFonts() ? [] : [FONT_PACKAGE])].filter((p) => !installed(p));
  const command = `apt-get install --no-install-recommends ${packages.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new InstallError(
      `Chromium needs shared libraries this machine lacks (${missing.join(', ')}); as root, run: ${command}`,
    );
  }
  log(`installing Chromium's shared libraries (${missing.join(', ')}) with ${command}`);
  const logFile = join(config.cacheDir, 'logs', 'install-chromium.log');
  const install = () =>
    run('install chromium libraries', 'apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
      logFile,
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    await install();
  } catch {
    // A fresh machine may have no package lists yet (or stale ones naming versions the archive has replaced).
    await run('update apt lists', 'apt-get', ['update'], { logFile });
    await install();
  }
  const still = missingLibraries(executable);
  if (still.length > 0) throw new InstallError(`Chromium still lacks ${still.join(', ')} after ${command} (log: ${logFile})`);
}

function hasFonts(): boolean {
  const dir = '/usr/share/fonts';
  return existsSync(dir) && readdirSync(dir, { recursive: true }).some((f) => /\.(ttf|otf|pfb)$/i.test(String(f)));
}

function installed(pkg: string): boolean {
  const out = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return out.status === 0 && out.stdout.includes('install ok installed');
}
