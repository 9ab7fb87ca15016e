import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { AnomalyFindingsPage, IncidentPolicyView, KeyPage, NetworkDenialView, VerifyResult } from '@keyledger/contracts';
import type { KeyEnvironment } from '@keyledger/key-domain';
import { formatNewKey } from '@keyledger/key-domain';
import type { KeyledgerClient, WithClient } from './api-client.js';
import { graceOption } from './cli-options.js';
import { CliUsageError } from './cli-failure.js';
import { newTable, print } from './output.js';
import type { DemoAttackName, DemoOutcome } from './demo-scenario.js';
import { DEMO_HOME_NETWORK, demoAttackerNetwork, demoSucceeded, keyPrefixOf, summarize } from './demo-scenario.js';

interface DemoOptions {
  tenant?: string;
  warmup: number;
  wait: number;
  spike: boolean;
  force: boolean;
}

interface DemoKey {
  readonly keyId: string;
  readonly key: string;
}

const SERVICES = 3;
const STEADY_EVERY_MS = 500;
/** Distinct made-up keys in the burst: over the enumeration detector's 20 a minute. */
const BURST_KEYS = 30;
const SPIKE_CALLS = 200;
const POLL_MS = 500;

/**
 * `keyledger demo`: a tour of detection and response against a running installation. In a tenant
 * of its own it sets an incident policy (an anomaly suspends the key, an enumeration denies its
 * network), issues a few keys and a honeytoken, keeps steady traffic going, and stages attacks one
 * after another, printing what the detector found and what the policy did as it happens; a
 * summary says how long each took. Exit 0 when every attack was detected and acted on.
 */
export function registerDemoCommand(program: Command, withClient: WithClient): void {
  program
    .command('demo')
    .description(
      'a tour of anomaly detection: in a tenant of its own, issues demo keys and a honeytoken, sends them traffic, stages attacks (a retired key still in use, a honeytoken, an enumeration burst; a rate spike with --spike) and shows what is found and done, as it happens',
    )
    .option('--tenant <tenant>', 'the demo tenant (default: demo-<random>); refused if it has keys or an incident policy, unless --force')
    .option('--force', "run in a tenant that has keys or an incident policy: the demo replaces that policy", false)
    .option('--warmup <duration>', 'steady traffic before the attacks', graceOption, 5000)
    .option('--wait <duration>', 'how long to wait for each finding and its effect', graceOption, 60_000)
    .option(
      '--spike',
      "also stage a rate spike, found once a key has the detector's ANOMALY_RATE_WARMUP_MS of history (a day by default; start the detector with a shorter one, below --warmup)",
      false,
    )
    .action(withClient(async (client, options, command: DemoOptions) => runDemo(client, command, options.json)));
}

async function runDemo(client: KeyledgerClient, options: DemoOptions, json: boolean): Promise<number> {
  const started = Date.now();
  const say = (line: string): void => {
    if (!json) process.stdout.write(`[+${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
  };
  const tenant = options.tenant ?? `demo-${randomBytes(3).toString('hex')}`;
  if (options.tenant !== undefined && !options.force) await refuseTenantInUse(client, tenant);
  const attacker = demoAttackerNetwork(randomBytes(4).readUInt32BE() / 2 ** 32);
  await client.call('incident-policy.set', {
    tenant,
    onLeak: null,
    onAnomaly: 'suspend',
    graceMs: null,
    onEnumeration: 'deny',
    denyForMs: 600_000,
  });
  say(`tenant ${tenant}: an anomaly suspends the key, an enumeration denies its source network for 10 minutes`);

  // Every key issued is revoked at the end, whatever happens after it was issued.
  const issued: DemoKey[] = [];
  const revoked = new Set<string>();
  const issue = async (owner: string, extra: Record<string, unknown> = {}): Promise<DemoKey> => {
    const key = await client.call<DemoKey>('keys.issue', { tenant, owner, name: `demo ${owner}`, scopes: ['demo:read'], ...extra });
    issued.push(key);
    return key;
  };
  let traffic: SteadyTraffic | undefined;
  let exitCode = 1;
  try {
    const services = await Promise.all(Array.from({ length: SERVICES }, (_, i) => issue(`demo-service-${i + 1}`)));
    const retired = await issue('demo-retired');
    const honeytoken = await issue('demo-bait', { honeytoken: true });
    say(`issued ${SERVICES} service keys, a key to retire and a honeytoken (${honeytoken.keyId})`);

    const verify = (key: string, ip: string): Promise<VerifyResult> => client.verify<VerifyResult>({ key, tenant, scopes: ['demo:read'], ip });
    const home = (i: number): string => `${DEMO_HOME_NETWORK}.${10 + i}`;
    traffic = steadyTraffic([...services, retired], verify, home);
    say(`steady traffic: each key verified every ${STEADY_EVERY_MS} ms from ${DEMO_HOME_NETWORK}.0/24`);
    await sleep(options.warmup);
    const findings = new FindingWatch(client, tenant, new Date(started).toISOString());
    const outcomes: DemoOutcome[] = [];
    const stage = (attack: DemoAttackName, line: string): DemoOutcome => {
      const outcome: DemoOutcome = { attack, startedAt: Date.now() };
      outcomes.push(outcome);
      say(`ATTACK ${attack}: ${line}`);
      return outcome;
    };
    const until = async (outcome: DemoOutcome, what: 'detectedAt' | 'effectAt', check: () => Promise<string | undefined>): Promise<void> => {
      for (const deadline = Date.now() + options.wait; Date.now() < deadline; await sleep(POLL_MS)) {
        const seen = await check();
        if (seen !== undefined) {
          outcome[what] = Date.now();
          say(`  ${what === 'detectedAt' ? 'FOUND' : 'EFFECT'} ${seen}`);
          return;
        }
      }
      say(`  not ${what === 'detectedAt' ? 'found' : 'seen'} within ${options.wait / 1000} s`);
    };

    // A key retired (revoked) that someone still presents.
    traffic.stop(retired.key);
    await client.call('keys.revoke', { keyId: retired.keyId, reason: 'retired in the demo' });
    revoked.add(retired.keyId);
    const dead = stage('retired key still in use', `${retired.keyId} revoked, then presented from ${attacker.address(7)}`);
    await until(dead, 'effectAt', async () => {
      const answer = await verify(retired.key, attacker.address(7));
      return answer.code === 'REVOKED' ? 'the verifier answers REVOKED' : undefined;
    });
    await until(dead, 'detectedAt', () => findings.describe(retired.keyId, 'dead-key-use'));

    // Bait nobody was given: any use means someone found it where it was planted.
    const bait = stage('honeytoken', `the honeytoken presented from ${attacker.address(8)}`);
    const baitAnswer = await verify(honeytoken.key, attacker.address(8));
    say(`  the caller is answered ${baitAnswer.code}, as for any unknown key`);
    if (baitAnswer.code === 'NOT_FOUND') bait.effectAt = Date.now();
    await until(bait, 'detectedAt', () => findings.describe(honeytoken.keyId, 'honeytoken'));

    // Guessing keys from one network; a real key presented from it afterwards is refused too.
    const burst = stage('enumeration burst', `${BURST_KEYS} made-up keys presented from ${attacker.cidr}`);
    const shape = keyPrefixOf(services[0]!.key) ?? { prefix: 'kl', env: 'live' };
    await Promise.all(
      Array.from({ length: BURST_KEYS }, (_, n) =>
        verify(formatNewKey(shape.prefix, shape.env as KeyEnvironment, (size) => randomBytes(size)), attacker.address(0x20 + (n % 10))),
      ),
    );
    await until(burst, 'detectedAt', async () => {
      const denials = await client.call<NetworkDenialView[]>('networks.list', { tenant });
      const denial = denials.find((entry) => entry.network === attacker.cidr && entry.tenant === tenant);
      return denial ? `enumeration from ${denial.network}: denied until ${denial.until} by ${denial.deniedBy}` : undefined;
    });
    await until(burst, 'effectAt', async () => {
      const answer = await verify(services[0]!.key, attacker.address(9));
      return answer.code === 'DENIED' ? `a real key presented from ${attacker.address(9)} is answered DENIED (from home: still VALID)` : undefined;
    });

    if (options.spike) {
      const target = services[1]!;
      const spike = stage('rate spike', `${SPIKE_CALLS} calls of ${target.keyId} at once`);
      await Promise.all(Array.from({ length: SPIKE_CALLS }, () => verify(target.key, home(1))));
      await until(spike, 'detectedAt', () => findings.describe(target.keyId, 'usage-spike'));
      await until(spike, 'effectAt', async () => ((await verify(target.key, home(1))).code === 'DISABLED' ? 'the verifier answers DISABLED' : undefined));
    } else {
      say('no rate spike staged: a key is judged by rate after ANOMALY_RATE_WARMUP_MS of history (a day by default); see --spike');
    }

    const rows = summarize(outcomes);
    print(json, { tenant, attacks: rows }, () => {
      const table = newTable(['attack', 'detected after', 'effect seen after', 'effect']);
      const seconds = (ms: number | null): string => (ms === null ? 'not within the wait' : `${(ms / 1000).toFixed(1)} s`);
      for (const row of rows) table.push([row.attack, seconds(row.detectedAfterMs), seconds(row.effectAfterMs), row.effect]);
      return `\n${table.toString()}\nkeyledger anomalies list --tenant ${tenant}   lists the findings`;
    });
    exitCode = demoSucceeded(rows) ? 0 : 1;
  } finally {
    await traffic?.close();
    // Nothing of the demo stays usable: its keys are revoked (the findings stay, for `anomalies list`).
    const failed = await revokeEach(client, issued.filter((key) => !revoked.has(key.keyId)));
    if (failed.length === 0) say(`the demo's keys are revoked`);
    else {
      process.stderr.write(`could not revoke the demo's keys ${failed.join(', ')}: revoke them with keyledger keys revoke\n`);
      exitCode = 1;
    }
  }
  return exitCode;
}

/** Revokes each key; the ids of those that could not be revoked (the others are revoked all the same). */
async function revokeEach(client: KeyledgerClient, keys: readonly DemoKey[]): Promise<string[]> {
  const failed: string[] = [];
  for (const key of keys) {
    try {
      await client.call('keys.revoke', { keyId: key.keyId, reason: 'end of the demo' });
    } catch {
      failed.push(key.keyId);
    }
  }
  return failed;
}

/** The demo replaces a tenant's incident policy and issues keys in it: a tenant in use is refused, unless forced. */
async function refuseTenantInUse(client: KeyledgerClient, tenant: string): Promise<void> {
  const keys = await client.call<KeyPage>('keys.list', { tenant, limit: 1 });
  const policy = await client.call<IncidentPolicyView>('incident-policy.get', { tenant });
  const policySet = Object.values(policy.policy).some((setting) => setting !== null);
  if (keys.keys.length > 0 || policySet)
    throw new CliUsageError(
      `tenant ${tenant} ${keys.keys.length > 0 ? 'has keys' : 'has an incident policy'}: the demo sets its incident policy and issues keys there; leave out --tenant for a tenant of its own, or add --force`,
    );
}

interface SteadyTraffic {
  stop(key: string): void;
  close(): Promise<void>;
}

/** Each key verified every STEADY_EVERY_MS from its home address until stopped: the normal use the attacks stand out from. */
function steadyTraffic(keys: readonly DemoKey[], verify: (key: string, ip: string) => Promise<VerifyResult>, home: (i: number) => string): SteadyTraffic {
  const stopped = new Set<string>();
  let closed = false;
  const loop = (async () => {
    while (!closed) {
      // A verification that fails (a timeout under load) is one call fewer of the background traffic, nothing more.
      await Promise.all(keys.map((key, i) => (stopped.has(key.key) ? Promise.resolve(undefined) : verify(key.key, home(i)).catch(() => undefined))));
      await sleep(STEADY_EVERY_MS);
    }
  })();
  return {
    stop: (key: string) => void stopped.add(key),
    close: async () => {
      closed = true;
      await loop;
    },
  };
}

/** The tenant's findings since the demo began, as `keyledger anomalies list` shows them. */
class FindingWatch {
  constructor(
    private readonly client: KeyledgerClient,
    private readonly tenant: string,
    private readonly since: string,
  ) {}

  /** A line about the first finding of that kind on that key, with what the policy did; undefined while there is none. */
  async describe(keyId: string, kind: string): Promise<string | undefined> {
    const page = await this.client.call<AnomalyFindingsPage>('anomalies.list', { tenant: this.tenant, keyId, since: this.since });
    const finding = page.findings.find((candidate) => candidate.kind === kind);
    if (finding === undefined) return undefined;
    const handled = finding.handled ? `; policy ${finding.handled.policy}: ${finding.handled.action}` : '';
    return `${finding.kind} (${finding.severity}) on ${finding.keyId}: ${finding.detail ?? ''}${handled}`;
  }
}
