import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { NatsAuthStore, PROGRAM_ROLES, natsHelmAuthValues, serviceCredsFile, serviceCredsSecrets } from '@keyledger/nats-auth';
import { LOCAL_AUTH_DIR } from './nats-credentials.js';
import { reportFailure } from './cli-failure.js';

interface NatsAuthOptions {
  readonly authDir: string;
  readonly eventStream: string;
  readonly usageStream?: string;
}

/**
 * `keyledger nats-auth init|kubernetes`: an installation's NATS operator, made once, and what a
 * Kubernetes deployment needs from it: the NATS chart's auth values and one Secret per service
 * and for the migrate job.
 */
export function registerNatsAuthCommand(program: Command): void {
  const group = program
    .command('nats-auth')
    .description("the installation's NATS operator, accounts and the users of the services and the migrate job")
    .addOption(
      new Option('--auth-dir <dir>', 'where the operator is kept (private: it signs every NATS user)').env('KEYLEDGER_NATS_AUTH_DIR').default(LOCAL_AUTH_DIR),
    )
    .addOption(new Option('--event-stream <name>', 'JetStream event stream of the installation').env('KEYLEDGER_EVENT_STREAM').default('KEYLEDGER_EVENTS'))
    .addOption(new Option('--usage-stream <name>', 'JetStream usage stream (default <event stream>_USAGE)').env('KEYLEDGER_USAGE_STREAM'));

  const run =
    <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      try {
        await action(...args);
      } catch (error) {
        reportFailure(error);
      }
    };

  const prepare = async (): Promise<{ store: NatsAuthStore; options: NatsAuthOptions }> => {
    const options = group.opts<NatsAuthOptions>();
    const store = await NatsAuthStore.open(options.authDir, { create: true });
    // Loaded on use: the bus library brings tracing, which every other command would pay for at start.
    const { busTopology } = await import('@keyledger/event-bus');
    await store.writeServerFiles(busTopology(program.opts<{ subjectPrefix: string }>().subjectPrefix, options.eventStream, options.usageStream));
    return { store, options };
  };

  group
    .command('init')
    .description(
      'create the operator, accounts and the users of the services and the migrate job in --auth-dir once (files mode 0600); later runs refresh the users from the permission table',
    )
    .action(
      run(async () => {
        const { store } = await prepare();
        process.stdout.write(`NATS operator in ${store.dir}: account ${store.account}\n`);
      }),
    );

  group
    .command('kubernetes')
    .description('write the NATS Helm chart auth values and one Secret per service and for the migrate job (kubectl apply -f) into --out')
    .requiredOption('--out <dir>', 'folder for nats-auth-values.yaml and nats-credentials.yaml (mode 0600)')
    .option('--namespace <namespace>', "the services' namespace", 'keyledger')
    .action(
      run(async (command: { out: string; namespace: string }) => {
        const { store } = await prepare();
        const creds = new Map<string, string>();
        for (const role of PROGRAM_ROLES) creds.set(role, await readFile(serviceCredsFile(store.dir, role), 'utf8'));
        await mkdir(command.out, { recursive: true, mode: 0o700 });
        await writeFile(join(command.out, 'nats-auth-values.yaml'), natsHelmAuthValues(await store.serverJwts()), { mode: 0o600 });
        await writeFile(
          join(command.out, 'nats-credentials.yaml'),
          serviceCredsSecrets((role) => creds.get(role)!, command.namespace),
          { mode: 0o600 },
        );
        process.stdout.write(
          `wrote ${join(command.out, 'nats-auth-values.yaml')} (helm … -f deploy/nats/values.yaml -f it) and ${join(command.out, 'nats-credentials.yaml')} (kubectl apply -f it; it holds secrets)\n`,
        );
      }),
    );
}
