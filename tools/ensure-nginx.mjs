// The end-to-end tests put a real nginx (Debian's build, with auth_request) in front of a
// sample upstream. When no nginx is installed, the Debian package is downloaded with
// `apt-get download` and unpacked under .keyledger/nginx: nothing is installed on the system,
// no service is enabled or started, and deleting the folder removes it. Elsewhere, says how to
// install nginx.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runToExit } from './run-process.mjs';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx', '/usr/bin/nginx'];
// The package that holds the binary: `nginx` since Debian 12, `nginx-light` or `nginx-core` before.
const PACKAGES = ['nginx', 'nginx-light', 'nginx-core'];
const HELP = 'nginx is needed by the end-to-end tests: install it (Debian/Ubuntu: apt-get install nginx) and run the tests again';

/** The unpacked nginx of a checkout, under its .keyledger folder; libs/testing looks there too. */
export function localNginx(root) {
  return join(root, '.keyledger', 'nginx', 'usr', 'sbin', 'nginx');
}

export function findNginx(root) {
  return [...CANDIDATES, localNginx(root)].find((path) => existsSync(path));
}

/**
 * @param {string} root the checkout
 * @param {(message: string) => void} log
 * @returns {Promise<string>} the path of an nginx binary
 */
export async function ensureNginx(root, log) {
  const found = findNginx(root);
  if (found) return found;
  if (!existsSync('/usr/bin/apt-get') || !existsSync('/usr/bin/dpkg-deb')) throw new Error(HELP);
  const dir = join(root, '.keyledger', 'nginx');
  const debs = join(dir, 'debs');
  await rm(dir, { recursive: true, force: true });
  await mkdir(debs, { recursive: true });
  log(`nginx: not installed; unpacking Debian's package into ${join('.keyledger', 'nginx')} (nothing is installed on the system, no service started)`);
  for (const name of PACKAGES) {
    if (!(await download(name, debs, log))) continue;
    for (const deb of await readdir(debs)) {
      if (deb.startsWith(`${name}_`) && (await runToExit('dpkg-deb', ['-x', join(debs, deb), dir], { stdio: 'ignore' })) !== 0)
        throw new Error(`dpkg-deb could not unpack ${deb}. ${HELP}`);
    }
    if (!existsSync(localNginx(root))) continue;
    // Its libraries (libc, libssl, pcre2, zlib) are the system's: a binary that cannot load them is said so now.
    if ((await runToExit(localNginx(root), ['-v'], { stdio: 'ignore' })) !== 0) throw new Error(`the unpacked ${localNginx(root)} does not run. ${HELP}`);
    return localNginx(root);
  }
  throw new Error(`no Debian package with an nginx binary could be downloaded (${PACKAGES.join(', ')}). ${HELP}`);
}

/** `apt-get download`; as root, with the package lists refreshed once when they do not know the package. */
async function download(name, cwd, log) {
  const quiet = { cwd, stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
  if ((await runToExit('apt-get', ['download', '-qq', name], quiet)) === 0) return true;
  if (process.getuid?.() !== 0) return false;
  log(`nginx: apt-get cannot download ${name}; refreshing the package lists (apt-get update)`);
  if ((await runToExit('apt-get', ['update', '-qq'], quiet)) !== 0) return false;
  return (await runToExit('apt-get', ['download', '-qq', name], quiet)) === 0;
}
