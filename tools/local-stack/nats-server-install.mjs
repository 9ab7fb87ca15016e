// Finds the nats-server binary, on PATH or in the system folders a package puts it in. When it
// is missing on a Debian/Ubuntu machine where we are root (a container, a CI runner), installs
// the distribution's package with apt-get; elsewhere, fails with a message saying how to get one.

import { accessSync, constants as fsConstants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { runToExit } from '../run-process.mjs';
import { errorText } from './helpers.mjs';

const NATS_INSTALL_HELP =
  'nats-server was not found (looked on PATH, /usr/sbin, /usr/local/bin). Install it with ' +
  '`apt-get install nats-server` (Debian/Ubuntu), `brew install nats-server` (macOS) or download a release ' +
  'from https://github.com/nats-io/nats-server/releases, or set NATS_URL to a NATS server with JetStream enabled.';

/**
 * @param {(message: string) => void} log
 * @returns {Promise<string>} the path of a nats-server executable
 */
export async function findOrInstallNatsServer(log) {
  const found = findExecutable('nats-server');
  if (found) return found;
  const aptGet = findExecutable('apt-get');
  if (!(process.getuid?.() === 0 && aptGet && existsSync('/etc/debian_version'))) {
    throw new Error(`nats: ${NATS_INSTALL_HELP}`);
  }
  log('nats: nats-server not found; installing the Debian package with apt-get (running as root)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runAptGet(aptGet, ['update'], env);
  await runAptGet(aptGet, ['install', '-y', 'nats-server'], env);
  const installed = findExecutable('nats-server');
  if (!installed) throw new Error(`nats: apt-get finished but nats-server is still not found. ${NATS_INSTALL_HELP}`);
  return installed;
}

async function runAptGet(aptGet, args, env) {
  let code;
  try {
    code = await runToExit(aptGet, args, { env });
  } catch (error) {
    throw new Error(`could not run ${aptGet}: ${errorText(error)}`);
  }
  if (code !== 0) throw new Error(`\`${aptGet} ${args.join(' ')}\` failed (${code}). ${NATS_INSTALL_HELP}`);
}

function findExecutable(name) {
  const fileName = process.platform === 'win32' ? `${name}.exe` : name;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, fileName);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function isExecutableFile(file) {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch (error) {
    // A missing or non-executable candidate is simply not the one we are looking for.
    if (['ENOENT', 'ENOTDIR', 'EACCES'].includes(error.code)) return false;
    throw error;
  }
}
