// Keeps node_modules in step with package-lock.json so that `npm start` and
// `npm test` work on a fresh checkout (or after a pull that changed the lock
// file) without a manual `npm install`.
//
// Plain ES module using only Node builtins: it runs before dependencies are
// installed and before anything is compiled.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Written into node_modules after a successful install; holds the lock file's SHA-256. */
const STAMP_FILE = '.keyledger-lock-sha256';

/**
 * Runs `npm ci` when node_modules is missing or was installed from a
 * different package-lock.json than the current one.
 *
 * @param {string} root repository root (the folder holding package-lock.json)
 * @returns {Promise<boolean>} true when an install ran, false when node_modules was already current
 */
export async function ensureDependencies(root) {
  const lockPath = path.join(root, 'package-lock.json');
  const nodeModules = path.join(root, 'node_modules');
  const stampPath = path.join(nodeModules, STAMP_FILE);

  if (!existsSync(lockPath)) {
    throw new Error(`ensureDependencies: ${lockPath} not found; npm ci needs a lock file (run \`npm install\` once to create it).`);
  }
  const lockHash = await sha256OfFile(lockPath);
  if (existsSync(nodeModules) && (await readStamp(stampPath)) === lockHash) {
    return false;
  }

  // Drop the old stamp first so an interrupted install can never look current.
  await rm(stampPath, { force: true });
  await runNpmCi(root);
  // npm creates no node_modules when there is nothing to install.
  await mkdir(nodeModules, { recursive: true });
  await writeFile(stampPath, `${lockHash}\n`);
  return true;
}

async function sha256OfFile(filePath) {
  return createHash('sha256')
    .update(await readFile(filePath))
    .digest('hex');
}

/** Returns the stored hash, or null when no install has been recorded yet. */
async function readStamp(stampPath) {
  if (!existsSync(stampPath)) return null;
  return (await readFile(stampPath, 'utf8')).trim();
}

function runNpmCi(root) {
  const args = ['ci', '--no-fund', '--no-audit'];
  const { command, commandArgs, shell } = npmInvocation(args);
  console.log(`[ensure-deps] package-lock.json changed or node_modules missing: running npm ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { cwd: root, stdio: 'inherit', shell });
    child.on('error', (error) => {
      reject(new Error(`ensureDependencies: could not run npm (${error.message}). Is npm installed and on PATH?`, { cause: error }));
    });
    child.on('exit', (code, signal) => {
      if (code === 0) {
        resolve();
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new Error(`ensureDependencies: \`npm ${args.join(' ')}\` ${how} in ${root}; see the npm output above.`));
    });
  });
}

/**
 * Prefers the npm that launched us (`npm start` sets npm_execpath to its
 * npm-cli.js), so the install uses the same npm version; falls back to `npm`
 * on PATH when run directly with node.
 */
function npmInvocation(args) {
  const execPath = process.env.npm_execpath;
  if (execPath && /npm-cli\.[cm]?js$/.test(execPath) && existsSync(execPath)) {
    return { command: process.execPath, commandArgs: [execPath, ...args], shell: false };
  }
  // On Windows npm is a .cmd shim, which spawn can only run through a shell.
  return { command: 'npm', commandArgs: args, shell: process.platform === 'win32' };
}
