import { join } from 'node:path';
import { Argument, Option } from 'commander';
import type { Command } from 'commander';
import type { ReplayReport } from '@keyledger/projection-replay';
import { LOCAL_EVENT_KEYS, openDatabase, secret } from './audit.command.js';
import { CliUsageError, isSystemError } from './nats-credentials.js';
import { reportFailure } from './cli-failure.js';
import { newTable, print } from './output.js';

const LOCAL_PEPPERS = join('.keyledger', 'pepper');
const PROJECTIONS = ['audit-trail', 'key-index'] as const;

interface ReplayOptions {
  databaseUrl?: string;
  schema: string;
  eventKeysFile?: string;
  peppersFile?: string;
}

/** The replay and what it needs, loaded on use: no other command pays for the store and the projections. */
async function replayLibraries() {
  const [replay, eventAuth, eventStore, keySecrets] = await Promise.all([
    import('@keyledger/projection-replay'),
    import('@keyledger/event-auth'),
    import('@keyledger/event-store'),
    import('@keyledger/key-secrets'),
  ]);
  return { ...replay, ...eventAuth, ...eventStore, ...keySecrets };
}

/** `applied / total` on one line of stderr, redrawn in place, when a person is watching. */
function progressLine(projection: string): { update: (applied: number, total: number) => void; end: () => void } {
  if (!process.stderr.isTTY) return { update: () => undefined, end: () => undefined };
  let drawn = false;
  return {
    update(applied, total) {
      const share = total > 0 ? Math.min(100, Math.floor((applied / total) * 100)) : 100;
      const bar = '#'.repeat(Math.floor(share / 5)).padEnd(20, '.');
      process.stderr.write(`\rreplaying ${projection} [${bar}] ${share}% ${applied.toLocaleString('en')} / ${total.toLocaleString('en')} events`);
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}

function summary(report: ReplayReport): string {
  const lines = [
    `${report.projection}: ${report.events.toLocaleString('en')} event(s) replayed in ${report.ms} ms (${report.eventsPerSecond.toLocaleString('en')} events/s), ${report.entries.toLocaleString('en')} entries`,
    `compared with ${report.comparedWith}: ${report.differenceCount === 0 ? 'no difference' : `${report.differenceCount} difference(s)`}`,
  ];
  if (report.refused > 0) lines.push(`${report.refused} row(s) of the store were refused (MAC or schema) and not applied: run keyledger audit verify`);
  if (report.notYetLive > 0) lines.push(`${report.notYetLive} newer event(s) not applied by the live projection yet (it runs behind the store)`);
  if (report.differences.length > 0) {
    const table = newTable(['id', 'difference', 'live', 'replayed']);
    for (const difference of report.differences.slice(0, 50))
      table.push([
        difference.id,
        difference.kind === 'field' ? (difference.fields ?? []).join(', ') : difference.kind,
        JSON.stringify(difference.live ?? null),
        JSON.stringify(difference.replayed ?? null),
      ]);
    lines.push(table.toString());
    if (report.differenceCount > 50) lines.push(`(${report.differenceCount - 50} more: --json lists up to ${report.differences.length})`);
  }
  return lines.join('\n');
}

/**
 * `keyledger replay PROJECTION`: rebuilds a projection from position 0 straight from the
 * store (like `audit verify`, with the installation's database and event keys, not through the
 * services), beside the live one, and reports every difference. Exit 0 when they agree.
 */
export function registerReplayCommand(program: Command, json: () => boolean): void {
  program
    .command('replay')
    .description('rebuild a projection from the event store (position 0) beside the live one and report every difference; exit 0 when they agree, 1 otherwise')
    .addArgument(new Argument('<projection>', 'audit-trail: the auditor’s trail table; key-index: the in-memory key index, against its stored snapshot').choices(PROJECTIONS))
    .addOption(new Option('--database-url <url>', 'the Postgres holding the store (a role that may read events and the projection, and create a scratch schema)').env('DATABASE_URL'))
    .addOption(new Option('--schema <schema>', 'the schema of the installation').env('DATABASE_SCHEMA').default('keyledger'))
    .addOption(new Option('--event-keys-file <file>', `a file holding the event keys (default: KEYLEDGER_EVENT_KEYS, else ${LOCAL_EVENT_KEYS})`))
    .addOption(new Option('--peppers-file <file>', `key-index: a file holding the hash peppers the snapshot is sealed with (default: KEYLEDGER_HASH_PEPPERS, else ${LOCAL_PEPPERS})`))
    .action(async (projection: (typeof PROJECTIONS)[number], command: ReplayOptions) => {
      const libraries = await replayLibraries();
      const { EventAuthenticator, PepperConfigError, PostgresEventStore, SnapshotSeal, SnapshotUnusableError, VersionedSecretConfigError, parsePeppers, parseVersionedSecrets } = libraries;
      try {
        const authenticator = new EventAuthenticator(parseVersionedSecrets(await secret('KEYLEDGER_EVENT_KEYS', command.eventKeysFile, LOCAL_EVENT_KEYS, '--event-keys-file'), 'event key'));
        const seal = projection === 'key-index' ? new SnapshotSeal(parsePeppers(await secret('KEYLEDGER_HASH_PEPPERS', command.peppersFile, LOCAL_PEPPERS, '--peppers-file'))) : undefined;
        const db = await openDatabase(command, 'keyledger-replay');
        await db.initialize();
        const progress = progressLine(projection);
        try {
          const store = new PostgresEventStore(db, { authenticator, rejections: { reject: () => undefined } });
          const report = seal
            ? await libraries.replayKeyIndex(db, store, seal, progress.update)
            : await libraries.replayAuditTrail(db, store, command.schema, progress.update);
          progress.end();
          print(json(), report, () => summary(report));
          process.exitCode = report.differenceCount === 0 ? 0 : 1;
        } finally {
          progress.end();
          await db.destroy();
        }
      } catch (error) {
        if (!(error instanceof CliUsageError || error instanceof SnapshotUnusableError || error instanceof VersionedSecretConfigError || error instanceof PepperConfigError || isSystemError(error))) throw error;
        reportFailure(error instanceof CliUsageError || isSystemError(error) ? error : new CliUsageError(error.message));
      }
    });
}
