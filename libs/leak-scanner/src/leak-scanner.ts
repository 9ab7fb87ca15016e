import { execFile } from 'node:child_process';
import { open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { keysInLine } from './key-candidates.js';

const run = promisify(execFile);

/** A leaked key: in a file of the working tree, or added by a commit of the git history. */
export interface LeakFinding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly hint: string;
  /** Set for a finding in the git history: the commit that added the line. */
  readonly commit?: string;
  /** Kept for a report to the issuer; never printed. */
  readonly key: string;
}

export interface ScanOptions {
  /** Also read every commit reachable from any ref (git log --all), when PATH is in a git work tree. */
  readonly history: boolean;
  /** Files larger than this are skipped (bytes). */
  readonly maxFileBytes?: number;
}

const SKIPPED_DIRECTORIES = new Set(['.git', 'node_modules']);
const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

/**
 * Finds Keyledger keys under `root` by format and checksum, in files and (optionally) in the
 * git history: a key that was committed and later deleted is still leaked. Binary files
 * (a NUL in the first 8 KiB), `.git` and `node_modules` are skipped.
 */
export async function scanForKeys(root: string, options: ScanOptions): Promise<LeakFinding[]> {
  const findings = await scanTree(root, root, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
  if (options.history && (await isGitWorkTree(root))) findings.push(...(await scanHistory(root)));
  return findings;
}

async function scanTree(root: string, directory: string, maxBytes: number): Promise<LeakFinding[]> {
  const findings: LeakFinding[] = [];
  const stats = await stat(directory);
  if (stats.isFile()) return scanFile(root, directory, maxBytes);
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory() && !SKIPPED_DIRECTORIES.has(entry.name)) findings.push(...(await scanTree(root, path, maxBytes)));
    else if (entry.isFile()) findings.push(...(await scanFile(root, path, maxBytes)));
  }
  return findings;
}

async function scanFile(root: string, path: string, maxBytes: number): Promise<LeakFinding[]> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) return [];
    const content = await handle.readFile();
    if (content.subarray(0, 8192).includes(0)) return [];
    const file = relative(root, path) || path;
    return content
      .toString('utf8')
      .split('\n')
      .flatMap((text, index) => keysInLine(text).map((found) => ({ file, line: index + 1, ...found })));
  } finally {
    await handle.close();
  }
}

async function isGitWorkTree(root: string): Promise<boolean> {
  try {
    const { stdout } = await run('git', ['-C', root, 'rev-parse', '--is-inside-work-tree']);
    return stdout.trim() === 'true';
  } catch {
    return false;
  }
}

/**
 * Every line any commit added, with its file and line number in that commit: `git log -p`
 * without context, read hunk by hunk.
 */
async function scanHistory(root: string): Promise<LeakFinding[]> {
  const { stdout } = await run('git', ['-C', root, 'log', '--all', '-p', '-U0', '--no-color', '--no-ext-diff', '--format=commit %H', '--relative'], {
    maxBuffer: 512 * 1024 * 1024,
  });
  const findings: LeakFinding[] = [];
  let commit = '';
  let file = '';
  let line = 0;
  for (const text of stdout.split('\n')) {
    if (text.startsWith('commit ')) commit = text.slice(7);
    else if (text.startsWith('+++ ')) file = text.startsWith('+++ b/') ? text.slice(6) : '';
    else if (text.startsWith('@@')) line = Number(/\+(\d+)/.exec(text)?.[1] ?? 0);
    else if (text.startsWith('+') && file) {
      for (const found of keysInLine(text.slice(1))) findings.push({ file, line, column: found.column, hint: found.hint, key: found.key, commit });
      line += 1;
    }
  }
  return findings;
}
