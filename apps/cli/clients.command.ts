import { writeFile } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@keyledger/nats-connection';
import type { BusNames } from '@keyledger/nats-auth';
import { AUTH_FILES, NatsAuthError, NatsAuthStore, accountUpdateSubject, credsUserName } from '@keyledger/nats-auth';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CliUsageError, isSystemError, findLocalAuthDir } from './nats-credentials.js';
import { newTable, print } from './output.js';

interface AuthOptions {
  readonly authDir?: string;
  readonly eventStream: string;
  readonly usageStream?: string;
}

interface ProgramOptions {
  readonly nats: string;
  readonly subjectPrefix: string;
  readonly json: boolean;
  readonly timeout: number;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function authDirOf(options: AuthOptions): string {
  const dir = options.authDir ?? findLocalAuthDir();
  if (dir === undefined) throw new CliUsageError('no NATS operator found: give --auth-dir (or KEYLEDGER_NATS_AUTH_DIR), or run npm start once');
  return dir;
}

async function namesOf(program: ProgramOptions, options: AuthOptions): Promise<BusNames> {
  // Loaded on use: the bus library brings tracing, which every other command would pay for at start.
  const { busTopology } = await import('@keyledger/event-bus');
  return busTopology(program.subjectPrefix, options.eventStream, options.usageStream);
}

/** Runs a `clients` action; a refused operation prints one line and exits 1, without a stack trace. */
function guarded<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await action(...args);
    } catch (error) {
      if (!(error instanceof NatsAuthError || error instanceof CliUsageError || error instanceof RangeError || isSystemError(error))) throw error;
      process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = 1;
    }
  };
}

/**
 * Tells running NATS servers about the account's new revocations, through the system account's
 * user: the server disconnects the revoked client at once and refuses it from then on.
 */
async function pushAccount(program: ProgramOptions, dir: string, account: string, accountJwt: string): Promise<string | undefined> {
  const systemCreds = readFileSync(join(dir, AUTH_FILES.systemCreds), 'utf8');
  let nc: NatsConnection | undefined;
  try {
    nc = await connectNats({
      servers: program.nats,
      name: 'keyledger-cli-revoke',
      creds: { text: systemCreds, userName: credsUserName(systemCreds) ?? 'system' },
      timeoutMs: program.timeout,
    });
    const reply = (await nc.request(accountUpdateSubject(account), accountJwt, { timeout: program.timeout })).json<{
      data?: { code?: number; message?: string };
      error?: { description?: string };
    }>();
    if (reply.error || reply.data?.code !== 200) return reply.error?.description ?? reply.data?.message ?? 'the server refused the update';
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await nc?.close();
  }
}

/** `keyledger clients add|list|revoke`: internal clients' NATS users, minted from the operator's material. */
export function registerClientsCommand(program: Command): void {
  const programOptions = (): ProgramOptions => program.opts<ProgramOptions>();
  const clients = program
    .command('clients')
    .description("internal clients' NATS users: what each may do on the bus, and revocation")
    .addOption(new Option('--auth-dir <dir>', 'the NATS operator and client registry (default: .keyledger/nats-auth)').env('KEYLEDGER_NATS_AUTH_DIR'))
    .addOption(new Option('--event-stream <name>', 'JetStream event stream of the installation').env('KEYLEDGER_EVENT_STREAM').default('KEYLEDGER_EVENTS'))
    .addOption(new Option('--usage-stream <name>', 'JetStream usage stream (default <event stream>_USAGE)').env('KEYLEDGER_USAGE_STREAM'));

  clients
    .command('add <name>')
    .description("mint a client's NATS credentials; prints them once (or writes them to --out, mode 0600)")
    .requiredOption('--allow <permission>', 'verify | deliveries:<tenant>/<owner> | admin (repeatable)', collect)
    .option('--out <file>', 'write the .creds file here instead of printing it')
    .action(
      guarded(async (name: string, command: { allow: string[]; out?: string }) => {
        const options = clients.opts<AuthOptions>();
        const store = await NatsAuthStore.open(authDirOf(options), { create: false });
        const creds = await store.addClient(name, command.allow, await namesOf(programOptions(), options), new Date());
        if (command.out !== undefined) {
          await writeFile(command.out, creds, { mode: 0o600, flag: 'wx' });
          process.stdout.write(`wrote the credentials of client ${name} to ${command.out}\n`);
        } else {
          process.stdout.write(`# credentials of client ${name} (shown once; save as a .creds file, mode 0600)\n${creds}`);
        }
      }),
    );

  clients
    .command('list')
    .description('list the clients: name, permissions, created, revoked')
    .action(
      guarded(async () => {
        const store = await NatsAuthStore.open(authDirOf(clients.opts<AuthOptions>()), { create: false });
        const list = store.clients();
        print(programOptions().json, list, () => {
          const table = newTable(['name', 'allows', 'created', 'revoked']);
          for (const client of list) table.push([client.name, client.allows.join(' '), client.createdAt, client.revokedAt ?? 'no']);
          return table.toString();
        });
      }),
    );

  clients
    .command('revoke <name>')
    .description('revoke a client: running NATS servers disconnect it at once and refuse it from then on')
    .action(
      guarded(async (name: string) => {
        const dir = authDirOf(clients.opts<AuthOptions>());
        const store = await NatsAuthStore.open(dir, { create: false });
        const { account, accountJwt } = await store.revokeClient(name, new Date());
        const problem = await pushAccount(programOptions(), dir, account, accountJwt);
        if (problem !== undefined) {
          process.stderr.write(
            `error: client ${name} is revoked in ${dir} and the server configuration, but NATS at ${programOptions().nats} was not told (${problem}); run keyledger clients push when it is reachable\n`,
          );
          process.exitCode = 1;
          return;
        }
        process.stdout.write(`revoked client ${name}; NATS disconnected it\n`);
      }),
    );

  clients
    .command('push')
    .description("send the account's current revocations to NATS again (after a revoke that could not reach it)")
    .action(
      guarded(async () => {
        const dir = authDirOf(clients.opts<AuthOptions>());
        const store = await NatsAuthStore.open(dir, { create: false });
        const { account, accountJwt } = await store.accountClaims();
        const problem = await pushAccount(programOptions(), dir, account, accountJwt);
        if (problem !== undefined) throw new CliUsageError(`NATS at ${programOptions().nats} did not take the account update (${problem})`);
        process.stdout.write('NATS has the current revocations\n');
      }),
    );
}
