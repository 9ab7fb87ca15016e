import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { DataSource } from 'typeorm';
import type { AuditCheck, AuditCheckpoint, AuditKeyAt, AuditTrail, AuditTrailEntry } from '@keyledger/contracts';
import type { BundleProblem, BundleReport, LogProblem, LogReport, NoteVerifierKey } from '@keyledger/transparency-log';
import type { WithClient } from './api-client.js';
import { CliUsageError, findLocalPath, isSystemError } from './nats-credentials.js';
import { collect } from './cli-options.js';
import { detailTable, keyDetail, newTable, print } from './output.js';
import { sinceOption } from './usage.command.js';
import { reportFailure } from './cli-failure.js';
import { registerAuditSearch } from './audit-search.command.js';
import { registerAuditReportCommand } from './audit-report.command.js';

/**
 * The store, the log and their crypto, loaded on use: `audit` is the only command that needs
 * them, and loading them at start cost every other command 0.2 s.
 */
async function auditLibraries() {
  const [eventAuth, eventStore, keySecrets, log] = await Promise.all([
    import('@keyledger/event-auth'),
    import('@keyledger/event-store'),
    import('@keyledger/key-secrets'),
    import('@keyledger/transparency-log'),
  ]);
  return { ...eventAuth, ...eventStore, ...keySecrets, ...log };
}

/** Where `npm start` keeps a local installation's checkpoint signing key, its verifier key, and the event keys. */
const LOCAL_SIGNING_KEY = join('.keyledger', 'audit-signing-key');
const LOCAL_PUBLIC_KEY = join('.keyledger', 'audit-public-key');
export const LOCAL_EVENT_KEYS = join('.keyledger', 'event-keys');

/** A secret from its variable, else from a file (given, or the local installation's): never from an argument, which the process list shows. */
export async function secret(variable: string, file: string | undefined, local: string, what: string): Promise<string> {
  const env = process.env[variable];
  if (file === undefined && env) return env;
  const path = file ?? findLocalPath(local);
  if (path === undefined) throw new CliUsageError(`set ${variable} or pass the ${what} file (no ${local} of a local installation found)`);
  return (await readFile(path, 'utf8')).trim();
}

/** The log's verifier key: --key, else the public half of the signing key, else a local installation's. */
async function logKey(key: string | undefined): Promise<NoteVerifierKey> {
  const { NoteSigner, parseVerifierKey } = await auditLibraries();
  if (key !== undefined) return parseVerifierKey(key);
  const signing = process.env['KEYLEDGER_AUDIT_SIGNING_KEY'];
  if (signing) return parseVerifierKey(NoteSigner.fromPrivateKey(signing).verifierKey());
  const path = findLocalPath(LOCAL_PUBLIC_KEY);
  if (path === undefined) throw new CliUsageError(`pass --key <note verifier key> (keyledger audit public-key prints it; no ${LOCAL_PUBLIC_KEY} found)`);
  return parseVerifierKey((await readFile(path, 'utf8')).trim());
}

function threadCount(value: string): number {
  if (!/^(0|[1-9][0-9]?)$/.test(value)) throw new CliUsageError(`--threads ${JSON.stringify(value)} is not a count from 0 to 99`);
  return Number(value);
}

function describe(problem: LogProblem): string {
  switch (problem.kind) {
    case 'event-altered':
      return `position ${problem.position} (leaf ${problem.leafIndex}): the event no longer hashes to its leaf — the row was changed`;
    case 'event-missing':
      return `position ${problem.position} (leaf ${problem.leafIndex}): the event is gone from the store`;
    case 'leaf-missing':
      return `leaf ${problem.leafIndex}: missing from the stored tree`;
    case 'event-not-in-log':
      return `position ${problem.position}: a row of the store the log never took (written outside the store, or placed into the past)`;
    case 'checkpoint-mismatch':
      return `checkpoint of size ${problem.treeSize}: its signed root is not the root of the store's events`;
    case 'checkpoint-signature':
      return `checkpoint of size ${problem.treeSize}: ${problem.detail}`;
    case 'checkpoints-inconsistent':
      return `checkpoints of sizes ${problem.oldSize} and ${problem.newSize}: no consistency proof between them`;
    case 'checkpoint-beyond-tree':
      return `checkpoint of size ${problem.treeSize}: larger than the tree`;
    default:
      return problem satisfies never;
  }
}

function summary(report: LogReport): string {
  const { chains } = report;
  const lines = [
    `audit verify: ${report.ok ? 'OK' : 'FAILED'}`,
    detailTable({
      streams: `${chains.streamsChecked} (${chains.eventsChecked} events), ${chains.breaks.length} chain break(s)`,
      leaves: `${report.leavesChecked} recomputed from the store`,
      checkpoints: `${report.checkpointsChecked} signature(s) checked`,
      'latest checkpoint': report.latestCheckpoint
        ? `size ${report.latestCheckpoint.treeSize}, root ${report.latestCheckpoint.rootHash}: ${report.latestCheckpoint.matches ? 'matches the store' : 'DOES NOT MATCH the store'}`
        : 'none',
      'first bad position': report.firstBadPosition ?? '-',
    }),
  ];
  for (const found of chains.breaks.slice(0, 20))
    lines.push(`  chain: position ${found.position} (${found.streamId} v${found.streamVersion}): ${found.reason}${found.detail ? ` (${found.detail})` : ''}`);
  for (const problem of report.problems.slice(0, 20)) lines.push(`  log: ${describe(problem)}`);
  const more = Math.max(0, chains.breaks.length - 20) + Math.max(0, report.problems.length - 20);
  if (more > 0) lines.push(`  … and ${more} more (--json lists them all)`);
  return lines.join('\n');
}

function bundleProblem(problem: BundleProblem): string {
  switch (problem.kind) {
    case 'malformed':
    case 'checkpoint':
      return `${problem.kind}: ${problem.detail}`;
    case 'not-in-checkpoint':
      return `position ${problem.position} (leaf ${problem.leafIndex}): not in the signed checkpoint as the bundle has it`;
    case 'chain-break':
      return `position ${problem.position} (leaf ${problem.leafIndex}): does not chain onto its stream's previous event`;
    default:
      return problem satisfies never;
  }
}

function bundleSummary(report: BundleReport): string {
  const lines = [
    `audit verify --bundle: ${report.ok ? 'OK' : 'FAILED'}`,
    detailTable({
      checkpoint: report.checkpoint ? `${report.checkpoint.origin}, size ${report.checkpoint.treeSize}, root ${report.checkpoint.rootHash}` : 'not verified',
      events: `${report.eventsChecked} checked`,
    }),
  ];
  for (const problem of report.problems.slice(0, 20)) lines.push(`  ${bundleProblem(problem)}`);
  return lines.join('\n');
}

function trailTable(trail: AuditTrail): string {
  const table = newTable(['#', 'position', 'occurred at', 'type', 'actor', 'event id']);
  for (const entry of trail.events) table.push([entry.version, entry.position, entry.occurredAt, entry.type, entry.actor, entry.eventId]);
  return `${trail.keyId} (tenant ${trail.tenant}): ${trail.events.length} event(s)\n${table.toString()}`;
}

function eventLabel(entry: AuditTrailEntry | null): string {
  return entry ? `${entry.type} v${entry.version} at ${entry.occurredAt} by ${entry.actor} (event ${entry.eventId}, position ${entry.position})` : '-';
}

function checkText(check: AuditCheck): string {
  return detailTable({ 'key id': check.keyId, at: check.at, code: check.code, reason: check.reason, 'decided by': eventLabel(check.decidedBy) });
}

interface VerifyOptions {
  databaseUrl?: string;
  schema: string;
  key?: string;
  eventKeysFile?: string;
  bundle?: string;
  threads: number;
}

/** Where the store is, as every connection of a command reaches it. */
function databaseSettings(command: { databaseUrl?: string; schema: string }, name: string): { url: string; schema: string; role: string | undefined; applicationName: string } {
  if (!command.databaseUrl) throw new CliUsageError('set DATABASE_URL or pass --database-url');
  return { url: command.databaseUrl, schema: command.schema, role: process.env['DATABASE_ROLE'] || undefined, applicationName: name };
}

export async function openDatabase(command: { databaseUrl?: string; schema: string }, name: string): Promise<DataSource> {
  const settings = databaseSettings(command, name);
  const { createDataSource } = await auditLibraries();
  return createDataSource({ ...settings, poolSize: 2 });
}

/**
 * `keyledger audit …`: the transparency log. `verify` checks the whole store offline from the
 * services, straight from Postgres; `checkpoint` asks the auditor; `public-key` prints the
 * verifier key anyone checks checkpoints with; `trail`, `at` and `check` ask the auditor about a key's past, `search` about every stream's;
 * `report` asks it for the permission audit (audit-report.command.ts).
 */
export function registerAuditCommand(program: Command, json: () => boolean, withClient: WithClient): void {
  const group = program.command('audit').description("a key's history (trail, state and verdict at an instant) and the tamper-evident audit log: checkpoints, proofs, offline bundles and a full verification");

  group
    .command('verify')
    .description(
      "recompute every stream's chain and the Merkle tree from the store, and check every signed checkpoint against it; exit 0 when all holds, 1 naming the first bad position",
    )
    .addOption(new Option('--database-url <url>', 'the Postgres holding the store (a role that may read events and tlog_*)').env('DATABASE_URL'))
    .addOption(new Option('--schema <schema>', 'the schema of the installation').env('DATABASE_SCHEMA').default('keyledger'))
    .addOption(new Option('--key <vkey>', 'the note verifier key of the checkpoints (default: from KEYLEDGER_AUDIT_SIGNING_KEY or .keyledger/audit-public-key)').env('KEYLEDGER_AUDIT_PUBLIC_KEY'))
    .addOption(new Option('--event-keys-file <file>', `a file holding the event keys (default: KEYLEDGER_EVENT_KEYS, else ${LOCAL_EVENT_KEYS})`))
    .addOption(new Option('--bundle <file>', 'check an exported bundle instead, offline: no database, no event keys, only --key'))
    .addOption(
      new Option(
        '--threads <count>',
        "threads checking ranges of the log side by side, each with two database connections of its own (0: none; default: the machine's cores, at most 8)",
      )
        .argParser(threadCount)
        .default(Math.min(availableParallelism(), 8)),
    )
    .action(async (command: VerifyOptions) => {
      const { EventAuthenticator, NoteError, VersionedSecretConfigError, parseVersionedSecrets, verifyAuditBundle, verifyTransparencyLog } = await auditLibraries();
      try {
        const keys = [await logKey(command.key)];
        if (command.bundle !== undefined) {
          let bundle: unknown;
          try {
            bundle = JSON.parse(await readFile(command.bundle, 'utf8'));
          } catch (error) {
            if (error instanceof SyntaxError) throw new CliUsageError(`${command.bundle} is not JSON`);
            throw error;
          }
          const report = verifyAuditBundle(bundle, keys);
          print(json(), report, () => bundleSummary(report));
          process.exitCode = report.ok ? 0 : 1;
          return;
        }
        const db = await openDatabase(command, 'keyledger-audit-verify');
        const eventKeys = parseVersionedSecrets(await secret('KEYLEDGER_EVENT_KEYS', command.eventKeysFile, LOCAL_EVENT_KEYS, '--event-keys-file'), 'event key');
        const authenticator = new EventAuthenticator(eventKeys);
        await db.initialize();
        try {
          const workers = { count: command.threads, database: databaseSettings(command, 'keyledger-audit-verify'), eventKeys };
          const report = await verifyTransparencyLog(db, authenticator, keys, { workers });
          print(json(), report, () => summary(report));
          process.exitCode = report.ok ? 0 : 1;
        } finally {
          await db.destroy();
        }
      } catch (error) {
        if (!(error instanceof CliUsageError || error instanceof NoteError || error instanceof VersionedSecretConfigError || isSystemError(error))) throw error;
        reportFailure(error instanceof CliUsageError || isSystemError(error) ? error : new CliUsageError(error.message));
      }
    });

  group
    .command('export')
    .description('write an offline bundle: the latest signed checkpoint and the events since --since, each with its inclusion proof (keyledger audit verify --bundle checks it)')
    .requiredOption('--since <position|instant>', 'the first event: a store position, or an ISO 8601 instant (events that occurred at or after it)')
    .requiredOption('--out <file>', 'where to write the bundle (JSON)')
    .addOption(new Option('--database-url <url>', 'the Postgres holding the store').env('DATABASE_URL'))
    .addOption(new Option('--schema <schema>', 'the schema of the installation').env('DATABASE_SCHEMA').default('keyledger'))
    .action(async (command: { since: string; out: string; databaseUrl?: string; schema: string }) => {
      const { NotInLogError, exportAuditBundle } = await auditLibraries();
      try {
        const instant = new Date(command.since);
        const isPosition = /^[1-9][0-9]{0,18}$/.test(command.since);
        if (!isPosition && Number.isNaN(instant.getTime())) throw new CliUsageError(`--since ${JSON.stringify(command.since)} is neither a position nor an ISO 8601 instant`);
        const since = isPosition ? { position: command.since } : { occurredAt: instant };
        const db = await openDatabase(command, 'keyledger-audit-export');
        await db.initialize();
        try {
          const bundle = await exportAuditBundle(db, since);
          await writeFile(command.out, `${JSON.stringify(bundle)}\n`, { flag: 'wx' });
          process.stderr.write(`wrote ${bundle.events.length} event(s) and their proofs in the checkpoint below to ${command.out}\n${bundle.checkpoint}`);
        } finally {
          await db.destroy();
        }
      } catch (error) {
        if (!(error instanceof CliUsageError || error instanceof NotInLogError || isSystemError(error))) throw error;
        reportFailure(error instanceof CliUsageError || isSystemError(error) ? error : new CliUsageError(error.message));
      }
    });

  group
    .command('public-key')
    .description('print the note verifier key checkpoints are signed with, from KEYLEDGER_AUDIT_SIGNING_KEY or a local installation (never from an argument)')
    .addOption(new Option('--signing-key-file <file>', `a file holding the signing key (default: KEYLEDGER_AUDIT_SIGNING_KEY, else ${LOCAL_SIGNING_KEY})`))
    .action(async (command: { signingKeyFile?: string }) => {
      const { NoteError, NoteSigner } = await auditLibraries();
      try {
        const signer = NoteSigner.fromPrivateKey(await secret('KEYLEDGER_AUDIT_SIGNING_KEY', command.signingKeyFile, LOCAL_SIGNING_KEY, '--signing-key-file'));
        process.stdout.write(`${signer.verifierKey()}\n`);
      } catch (error) {
        if (!(error instanceof CliUsageError || error instanceof NoteError || isSystemError(error))) throw error;
        reportFailure(error instanceof CliUsageError || isSystemError(error) ? error : new CliUsageError(error.message));
      }
    });

  group
    .command('generate-key <name>')
    .description('print a new checkpoint signing key named NAME (e.g. keyledger.example.com/audit) for KEYLEDGER_AUDIT_SIGNING_KEY; keep it secret')
    .action(async (name: string) => {
      const { NoteError, NoteSigner } = await auditLibraries();
      try {
        process.stdout.write(`${NoteSigner.generate(name).privateKey}\n`);
      } catch (error) {
        if (!(error instanceof NoteError)) throw error;
        reportFailure(new CliUsageError(error.message));
      }
    });

  group
    .command('checkpoint')
    .description("ask the auditor for its latest signed checkpoint (--refresh: of the store as it is now), checked with --key when given")
    .option('--refresh', 'bring the tree up to the store and sign a checkpoint if it grew', false)
    .addOption(new Option('--key <vkey>', 'check the signature with this note verifier key').env('KEYLEDGER_AUDIT_PUBLIC_KEY'))
    .action(
      withClient(async (client, options, command: { refresh: boolean; key?: string }) => {
        const checkpoint = await client.call<AuditCheckpoint>('audit.checkpoint', { refresh: command.refresh });
        // A checkpoint nobody checked is only a claim: with a key, a bad signature fails the command.
        if (command.key !== undefined) {
          const { openNote, parseVerifierKey } = await auditLibraries();
          openNote(checkpoint.note, [parseVerifierKey(command.key)]);
        }
        print(options.json, checkpoint, () => checkpoint.note.trimEnd());
      }),
    );

  registerAuditSearch(group, withClient);

  group
    .command('trail <keyId>')
    .description("every event of a key, in order, with its type, time and actor (read from the store by the auditor, each event's MAC checked)")
    .action(
      withClient(async (client, options, keyId: string) => {
        const trail = await client.call<AuditTrail>('audit.trail', { keyId });
        print(options.json, trail, () => trailTable(trail));
      }),
    );

  group
    .command('at')
    .description('the key as it was at TIME (an ISO 8601 instant, or a duration back from now such as 2h): its events up to then, folded')
    .argument('<time>', 'ISO 8601 instant, or 30m, 2h, 7d back from now', sinceOption)
    .argument('<keyId>')
    .action(
      withClient(async (client, options, at: string, keyId: string) => {
        const answer = await client.call<AuditKeyAt>('audit.at', { keyId, at });
        print(options.json, answer, () =>
          answer.key ? `${keyId} at ${answer.at}, after ${eventLabel(answer.lastEvent)}:\n${keyDetail(answer.key)}` : `${keyId} was not issued yet at ${answer.at}`,
        );
      }),
    );

  group
    .command('check')
    .description("whether a verification at --at would have been accepted by the key's rules then (status, expiry, environment, IP allowlist, scopes; not rate limits), and the event that decided it; exit 0 when VALID")
    .requiredOption('--at <time>', 'ISO 8601 instant, or 30m, 2h, 7d back from now', sinceOption)
    .requiredOption('--key <keyId>', 'the key id')
    .option('--scope <scope>', 'a scope the verification asks (repeatable)', collect)
    .option('--ip <ip>', 'the caller address')
    .addOption(new Option('--env <env>').choices(['live', 'test']))
    .action(
      withClient(async (client, options, command: { at: string; key: string; scope?: string[]; ip?: string; env?: string }) => {
        const check = await client.call<AuditCheck>('audit.check', { keyId: command.key, at: command.at, scopes: command.scope, ip: command.ip, env: command.env });
        print(options.json, check, () => checkText(check));
        return check.valid ? 0 : 1;
      }),
    );

  registerAuditReportCommand(group, withClient);
}
