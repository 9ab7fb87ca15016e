// The end-to-end tests put a real nginx (Debian's package, with auth_request) in front of a
// sample upstream. Installs it with apt-get when missing, without starting the system
// service; elsewhere, says how to install it.
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { runToExit } from './run-process.mjs';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx', '/usr/bin/nginx'];
const POLICY = '/usr/sbin/policy-rc.d';

export function findNginx() {
  return CANDIDATES.find((path) => existsSync(path));
}

export async function ensureNginx(log) {
  const found = findNginx();
  if (found) return found;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new Error('nginx is needed by the end-to-end tests: install it (Debian/Ubuntu: apt-get install nginx-light) and run the tests again');
  }
  log('nginx: installing nginx-light with apt-get');
  // Debian's maintainer scripts would start nginx on port 80; a policy-rc.d of 101 stops that.
  const ownPolicy = !existsSync(POLICY);
  if (ownPolicy) await writeFile(POLICY, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if ((await runToExit('apt-get', ['update', '-qq'], { env })) !== 0) throw new Error('apt-get update failed');
    if ((await runToExit('apt-get', ['install', '-y', '-qq', 'nginx-light'], { env })) !== 0) throw new Error('apt-get install nginx-light failed');
  } finally {
    if (ownPolicy) await rm(POLICY, { force: true });
  }
  const installed = findNginx();
  if (!installed) throw new Error('nginx-light was installed but no nginx binary was found');
  return installed;
}
