import { rm, writeFile } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@keyledger/nats-connection';
import type { BusNames } from '@keyledger/nats-auth';
import { AUTH_FILES, NatsAuthError, NatsAuthStore, accountUpdateSubject, usableCredsUserName } from '@keyledger/nats-auth';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CliUsageError, isSystemError, findLocalAuthDir } from './nats-credentials.js';
import { newTable, print } from './output.js';
import { reportFailure } from './cli-failure.js';

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

/** Runs a `clients` action; a failure prints one line and its exit code (`reportFailure`), without a stack trace. */
function guarded<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await action(...args);
    } catch (error) {
      reportFailure(error);
    }
  };
}

/**
 * The system account user's credentials, checked before anything is changed: a revocation
 * recorded but impossible to push would leave the revoked client connected.
 */
function systemCredsOf(dir: string): { text: string; userName: string } {
  const path = join(dir, AUTH_FILES.systemCreds);
  const text = readFileSync(path, 'utf8');
  const userName = usableCredsUserName(text);
  if (userName === undefined)
    throw new NatsAuthError(
      'BAD_AUTH_STORE',
      `${path} is not a usable NATS user credentials file: run keyledger nats-auth --auth-dir ${dir} init to write it again from the operator, then retry`,
    );
  return { text, userName };
}

/**
 * Tells running NATS servers about the account's new revocations, through the system account's
 * user: the server disconnects the revoked client at once and refuses it from then on.
 */
async function pushAccount(
  program: ProgramOptions,
  systemCreds: { text: string; userName: string },
  account: string,
  accountJwt: string,
): Promise<string | undefined> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connectNats({
      servers: program.nats,
      name: 'keyledger-cli-revoke',
      creds: systemCreds,
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
        const out = command.out;
        if (out !== undefined) {
          // The file is written before the client is registered, and removed if the registration
          // fails: never a registered client whose credentials went nowhere, nor the reverse.
          let written = false;
          const write = async (creds: string): Promise<void> => {
            try {
              await writeFile(out, creds, { mode: 0o600, flag: 'wx' });
            } catch (error) {
              const code = isSystemError(error) ? error.code : String(error);
              throw new CliUsageError(
                `cannot write the credentials to ${out} (${code}); client ${name} was not registered: give --out a new file in a writable folder`,
              );
            }
            written = true;
          };
          try {
            await store.addClient(name, command.allow, await namesOf(programOptions(), options), new Date(), write);
          } catch (error) {
            if (written) await rm(out, { force: true });
            throw error;
          }
          process.stdout.write(`wrote the credentials of client ${name} to ${out}\n`);
        } else {
          const creds = await store.addClient(name, command.allow, await namesOf(programOptions(), options), new Date());
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
        const systemCreds = systemCredsOf(dir);
        const { account, accountJwt } = await store.revokeClient(name, new Date());
        const problem = await pushAccount(programOptions(), systemCreds, account, accountJwt);
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
        const problem = await pushAccount(programOptions(), systemCredsOf(dir), account, accountJwt);
        if (problem !== undefined) throw new CliUsageError(`NATS at ${programOptions().nats} did not take the account update (${problem})`);
        process.stdout.write('NATS has the current revocations\n');
      }),
    );
}
