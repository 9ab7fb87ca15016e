import { randomBytes } from 'node:crypto';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@keyledger/nats-connection';
import type { CreditRefill, KeyPage, KeyView, RateLimit } from '@keyledger/contracts';
import { MAX_KEYS_PER_PAGE } from '@keyledger/contracts';
import { DEFAULT_KEY_PREFIX, formatNewKey, isValidKeyPrefix } from '@keyledger/key-domain';
import { KeyledgerClient } from './api-client.js';
import {
  collect,
  commaList,
  creditAmount,
  creditsSetting,
  expiresIn,
  metaEntry,
  plaintextArgument,
  rateLimitEntry,
  refillOption,
  verifyCost,
} from './cli-options.js';
import type { VerifyResult } from './cli-types.js';
import { detailTable, keyDetail, keyTable, print, verifyDetail } from './output.js';
import { registerRotateCommand } from './rotate.command.js';
import { registerOwnersCommand } from './owners.command.js';
import { registerTenantsCommand } from './tenants.command.js';
import { registerRotationPolicyCommand } from './rotation-policy.command.js';
import { registerRotationUsageCommand } from './rotation-usage.command.js';
import { registerScanCommand } from './scan.command.js';
import { registerIncidentCommands } from './incidents.command.js';
import { registerNetworksCommand } from './networks.command.js';
import type { KeySettingOptions } from './key-settings.js';
import { keySettingsChange, withKeySettingOptions } from './key-settings.js';
import { registerUsageCommand } from './usage.command.js';
import { startRequestTracing } from './request-tracing.js';
import { registerClientsCommand } from './clients.command.js';
import { registerNatsAuthCommand } from './nats-auth.command.js';
import { registerDeliveriesCommand } from './deliveries.command.js';
import { registerAuditCommand } from './audit.command.js';
import { registerReplayCommand } from './replay.command.js';
import { registerWitnessCommand } from './witness.command.js';
import { registerAnomaliesCommand } from './anomalies.command.js';
import { registerDemoCommand } from './demo.command.js';
import { CliUsageError, cliConnection, defaultNatsUrl } from './nats-credentials.js';
import { confirmedAtTerminal } from './confirm.js';
import { EXIT_CODES, NatsUnreachableError, reportFailure } from './cli-failure.js';

/** How long the CLI waits at exit for its trace to be exported, when tracing is configured. */
const TRACE_EXPORT_WAIT_MS = 3000;

function positiveMilliseconds(text: string): number {
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1) throw new InvalidArgumentError('expected a number of milliseconds, such as 10000');
  return ms;
}

/** Services `keyledger status` expects to find running. */
const SERVICES = ['issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector', 'relay'];

interface GlobalOptions {
  nats: string;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  subjectPrefix: string;
  adminKey?: string;
  json: boolean;
  timeout: number;
}

const tracing = await startRequestTracing(process.env);

const program = new Command('keyledger')
  .description('Manage and verify Keyledger API keys')
  .addOption(
    new Option('--nats <url>', 'NATS server').env('NATS_URL').default(defaultNatsUrl(), "npm start's, from .keyledger/nats-url, else nats://127.0.0.1:4222"),
  )
  .addOption(new Option('--creds <file>', 'NATS user credentials (default: .keyledger/nats-auth/cli.creds when npm start made one)').env('NATS_CREDS'))
  .addOption(new Option('--tls-ca <file>', 'CA certificates for NATS over TLS').env('NATS_TLS_CA_FILE'))
  .addOption(new Option('--tls-cert <file>', 'client certificate for mutual TLS with NATS').env('NATS_TLS_CERT_FILE'))
  .addOption(new Option('--tls-key <file>', 'its private key').env('NATS_TLS_KEY_FILE'))
  .addOption(new Option('--subject-prefix <prefix>', 'NATS subject prefix of the installation').env('KEYLEDGER_SUBJECT_PREFIX').default('keyledger'))
  .addOption(new Option('--admin-key <key>', 'admin key for every command but verify').env('KEYLEDGER_ADMIN_KEY'))
  .option('--json', 'print JSON for scripts', false)
  .addOption(new Option('--timeout <ms>', 'request timeout').default(10_000).argParser(positiveMilliseconds))
  // A mistake gets its one-line error and where to look, not the whole help; subcommands inherit both.
  .showHelpAfterError("(add --help for this command's options)")
  .exitOverride();

/** Runs an action with a connected client; a failure prints one line and exits with its code (cli-failure.ts). */
function withClient<A extends unknown[]>(action: (client: KeyledgerClient, options: GlobalOptions, ...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const options = program.opts<GlobalOptions>();
    let nc: NatsConnection | undefined;
    try {
      const connection = cliConnection(options);
      nc = await connectNats(connection).catch((error: unknown) => {
        throw new NatsUnreachableError(options.nats, error);
      });
      process.exitCode = (await action(new KeyledgerClient(nc, options.subjectPrefix, options.adminKey, options.timeout, tracing), options, ...args)) ?? 0;
    } catch (error) {
      reportFailure(error);
    } finally {
      await nc?.close();
    }
  };
}

program
  .command('status')
  .description('list running services and their endpoints; exit 0 when every service is ready')
  .option('--wait <ms>', 'how long to collect answers', (v) => Number(v), 1000)
  .action(
    withClient(async (client, options, command: { wait: number }) => {
      const instances = await client.status(command.wait);
      const services = SERVICES.map((service) => {
        const mine = instances.filter((i) => i.service === service);
        return { service, ready: mine.length > 0 && mine.every((i) => i.ready), instances: mine };
      });
      // An instance without a NATS user is said loudly: anyone who reaches NATS can read and forge its traffic.
      const unauthenticated = instances.filter((i) => i.bus === 'unauthenticated').map((i) => i.instance);
      const bus = unauthenticated.length > 0 ? 'unauthenticated' : 'authenticated';
      print(
        options.json,
        { ready: services.every((s) => s.ready), bus, services },
        () =>
          (unauthenticated.length > 0 ? `WARNING bus: unauthenticated — ${unauthenticated.join(', ')} connect to NATS without a user (NATS_CREDS)\n` : '') +
          detailTable(
            Object.fromEntries(
              services.map((s) => [
                s.service,
                s.instances.length === 0
                  ? 'not running'
                  : `${s.ready ? 'ready' : 'NOT READY'} (${s.instances.length}) ${s.instances.map((i) => i.endpoints['http']).join(' ')}`,
              ]),
            ),
          ),
      );
      return services.every((s) => s.ready) ? 0 : 1;
    }),
  );

const keys = program.command('keys').description('issue, inspect, change and verify keys');

keys
  .command('issue')
  .description('issue a key; prints the key once')
  .requiredOption('--tenant <tenant>')
  .requiredOption('--owner <owner>', 'the service or application that holds the key')
  .option('--name <name>')
  .addOption(new Option('--env <env>').choices(['live', 'test']).default('live'))
  .option('--scopes <list>', 'comma-separated, e.g. orders:read,users:* (required, unless --no-scopes)', commaList)
  .option('--no-scopes', 'issue a key with no scope: it passes only verifications that require none')
  .option('--allow-ip <cidr>', 'allowed caller range (repeatable)', collect)
  .option('--expires-in <duration>', 'e.g. 30d, 12h', expiresIn)
  .option('--meta <key=value>', 'metadata (repeatable)', metaEntry)
  .option('--rate-limit <limit/window>', 'e.g. 100/1s, 10000/1d (repeatable, one per window length)', rateLimitEntry)
  .option('--credits <n>', 'a quota: the credits the key starts with', creditAmount)
  .option('--refill <amount/interval>', 'refill the credits: AMOUNT/daily or AMOUNT/monthly[@DAY]', refillOption)
  .option(
    '--honeytoken',
    'a key never to be used, to plant as bait: every verification answers NOT_FOUND, as for an unknown key, and is reported as a critical anomaly (never rotated)',
  )
  .action(
    withClient(
      async (
        client,
        options,
        command: {
          tenant: string;
          owner: string;
          name?: string;
          env: string;
          scopes?: string[] | false;
          allowIp?: string[];
          expiresIn?: string;
          meta?: Record<string, string>;
          rateLimit?: RateLimit[];
          credits?: number;
          refill?: CreditRefill;
          honeytoken?: boolean;
        },
      ) => {
        // A key without scopes verifies VALID for every request that asks none: only on purpose.
        if (command.scopes !== false && (command.scopes ?? []).length === 0)
          throw new CliUsageError('a key needs its scopes: --scopes orders:read,… (or --no-scopes for a key that passes only verifications requiring none)');
        const issued = await client.call<{ keyId: string; key: string; view: KeyView }>('keys.issue', {
          tenant: command.tenant,
          owner: command.owner,
          name: command.name,
          environment: command.env,
          scopes: command.scopes === false ? [] : command.scopes,
          ipAllowlist: command.allowIp,
          expiresAt: command.expiresIn,
          metadata: command.meta,
          rateLimits: command.rateLimit,
          credits: creditsSetting(command.credits, command.refill),
          ...(command.honeytoken ? { honeytoken: true } : {}),
        });
        print(options.json, { ...issued.view, key: issued.key }, () => `${keyDetail(issued.view)}\n\nkey (shown once): ${issued.key}`);
      },
    ),
  );

keys
  .command('verify <key>')
  .description('verify a key (- reads it from stdin); exit 0 when VALID')
  .option('--tenant <tenant>')
  .option('--scope <scope>', 'required scope (repeatable)', collect)
  .option('--ip <ip>', 'caller address')
  .addOption(new Option('--env <env>').choices(['live', 'test']))
  .option('--cost <n>', 'credits this call consumes from a key with a quota (default 1)', verifyCost)
  .action(
    withClient(async (client, options, key: string, command: { tenant?: string; scope?: string[]; ip?: string; env?: string; cost?: number }) => {
      const result = await client.verify<VerifyResult>({
        key: plaintextArgument(key),
        tenant: command.tenant,
        scopes: command.scope,
        ip: command.ip,
        env: command.env,
        cost: command.cost,
      });
      print(options.json, result, () => verifyDetail(result));
      return result.valid ? 0 : 1;
    }),
  );

keys
  .command('get <keyId>')
  .description("show a key's settings and state (never the key itself)")
  .action(
    withClient(async (client, options, keyId: string) => {
      const view = await client.call<KeyView>('keys.get', { keyId });
      print(options.json, view, () => keyDetail(view));
    }),
  );

keys
  .command('list')
  .description("list a tenant's keys (every page)")
  .requiredOption('--tenant <tenant>')
  .option('--owner <owner>', "only this owner's keys")
  .addOption(new Option('--status <status>', 'only keys in this status').choices(['active', 'suspended', 'revoked', 'expired']))
  .action(
    withClient(async (client, options, command: { tenant: string; owner?: string; status?: string }) => {
      // The API answers in pages; the user gets every key.
      const list: KeyView[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.call<KeyPage>('keys.list', {
          tenant: command.tenant,
          limit: MAX_KEYS_PER_PAGE,
          ...(command.owner === undefined ? {} : { owner: command.owner }),
          ...(command.status === undefined ? {} : { status: command.status }),
          ...(cursor ? { cursor } : {}),
        });
        list.push(...page.keys);
        cursor = page.nextCursor;
      } while (cursor);
      print(options.json, list, () => keyTable(list));
    }),
  );

withKeySettingOptions(keys.command('update <keyId>').description("change a key's settings"), 'the key').action(
  withClient(async (client, options, keyId: string, command: KeySettingOptions) => {
    const view = await client.call<KeyView>('keys.update', { keyId, ...keySettingsChange(command) });
    print(options.json, view, () => keyDetail(view));
  }),
);

keys
  .command('topup <keyId> <amount>')
  .description('add credits to the current period of a key with a quota')
  .action(
    withClient(async (client, options, keyId: string, amount: string) => {
      const view = await client.call<KeyView>('keys.topup', { keyId, amount: creditAmount(amount) });
      print(options.json, view, () => keyDetail(view));
    }),
  );

const OPERATION_DESCRIPTIONS = {
  suspend: 'stop a key verifying until it is resumed',
  resume: 'let a suspended key verify again',
  revoke: 'end a key for good, waiting until every live verifier refuses it',
} as const;

for (const operation of ['suspend', 'resume', 'revoke'] as const) {
  const subcommand = keys
    .command(`${operation} <keyId>`)
    .description(OPERATION_DESCRIPTIONS[operation])
    .option('--reason <reason>', operation === 'revoke' ? 'why (recorded in the audit trail)' : 'why');
  if (operation === 'revoke') subcommand.option('-y, --yes', 'do not ask for confirmation at a terminal');
  subcommand.action(
    withClient(async (client, options, keyId: string, command: { reason?: string; yes?: boolean }) => {
      if (operation === 'revoke' && !command.yes && !(await confirmedAtTerminal(`revoke ${keyId} for good? every verifier will refuse it [y/N] `))) {
        process.stderr.write('not revoked\n');
        return EXIT_CODES.no;
      }
      const body =
        operation === 'revoke'
          ? { keyId, reason: command.reason ?? 'revoked with the CLI' }
          : operation === 'suspend'
            ? { keyId, reason: command.reason }
            : { keyId };
      const answer = await client.call<KeyView | { view: KeyView; fence?: unknown }>(`keys.${operation}`, body);
      const view = 'view' in answer ? answer.view : answer;
      print(options.json, answer, () => keyDetail(view));
    }),
  );
}

registerRotateCommand(keys, withClient);
registerRotationUsageCommand(keys, withClient);

keys
  .command('generate')
  .description('print a fresh well-formed key, offline (for bootstrap secrets)')
  .option('--prefix <prefix>', 'key prefix', DEFAULT_KEY_PREFIX)
  .addOption(new Option('--env <env>').choices(['live', 'test']).default('live'))
  .action((command: { prefix: string; env: 'live' | 'test' }) => {
    if (!isValidKeyPrefix(command.prefix)) program.error('error: the prefix must be 2-16 lowercase letters or digits, starting with a letter');
    const key = formatNewKey(command.prefix, command.env, (n) => randomBytes(n));
    print(program.opts<GlobalOptions>().json, { key }, () => key);
  });

registerUsageCommand(program, withClient);
registerRotationPolicyCommand(program, withClient);
registerOwnersCommand(program, withClient);
registerTenantsCommand(program, withClient);
registerScanCommand(program, () => program.opts<GlobalOptions>().json, withClient);
registerIncidentCommands(program, keys, withClient);
registerNetworksCommand(program, withClient);
registerAnomaliesCommand(program, withClient);
registerDemoCommand(program, withClient);
registerClientsCommand(program);
registerNatsAuthCommand(program);
registerDeliveriesCommand(program);
registerAuditCommand(program, () => program.opts<GlobalOptions>().json, withClient);
registerReplayCommand(program, () => program.opts<GlobalOptions>().json);
registerWitnessCommand(program);

try {
  await program.parseAsync();
} catch (error) {
  // exitOverride: commander has printed its message (or the help) and throws instead of exiting.
  if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
  else reportFailure(error);
}
const traceProblem = await tracing.shutdown(TRACE_EXPORT_WAIT_MS);
if (traceProblem !== undefined) {
  // The command's own outcome stands; its trace is given up, with the exporter's pending retries.
  process.stderr.write(`warning: the command's trace was not exported (${traceProblem})\n`);
  process.exit();
}
