import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds, fromSeed } from '@nats-io/jwt';
import type { KeyPair } from '@nats-io/jwt';
import type { BusPermissions } from './bus-permissions.js';

/** Unlimited connections, subscriptions, payload and JetStream storage: the account's limits are not where Keyledger draws its lines. */
const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 } as const;
const UNLIMITED_JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } as const;

/** How long a service may take to answer a request it received (`allow_responses` expiry), in nanoseconds. */
const RESPONSE_TTL_NS = 60_000_000_000;

/** The signing material of one installation: the operator, its system account and Keyledger's account, as nkey seeds. */
export interface OperatorSeeds {
  readonly operator: string;
  readonly systemAccount: string;
  readonly systemUser: string;
  readonly account: string;
}

export function newOperatorSeeds(): OperatorSeeds {
  const seed = (kp: KeyPair): string => new TextDecoder().decode(kp.getSeed());
  return { operator: seed(createOperator()), systemAccount: seed(createAccount()), systemUser: seed(createUser()), account: seed(createAccount()) };
}

function keyPair(seed: string): KeyPair {
  return fromSeed(new TextEncoder().encode(seed));
}

export function publicKeyOf(seed: string): string {
  return keyPair(seed).getPublicKey();
}

/** Public key prefixes: what a seed of each kind decodes to. */
const KEY_KINDS = { operator: 'O', account: 'A', user: 'U' } as const;

/** True when `seed` is an nkey seed that decodes to a key of `kind` (a corrupted seed fails its checksum). */
export function isSeedOf(seed: string, kind: keyof typeof KEY_KINDS): boolean {
  try {
    return publicKeyOf(seed).startsWith(KEY_KINDS[kind]);
  } catch {
    // nkeys throws for a seed that does not decode: that is the answer asked for, not a failure.
    return false;
  }
}

/** A fresh user key: its seed (kept only in the user's .creds) and public key (the registry's handle for revocation). */
export function newUserSeed(): string {
  return new TextDecoder().decode(createUser().getSeed());
}

/** Revoked user public keys, each with the time (Unix seconds) up to which its JWTs are void. */
export type Revocations = Readonly<Record<string, number>>;

/** The JWTs a NATS server is configured with: the operator, the system account and Keyledger's account (with its revocations). */
export interface ServerJwts {
  readonly operatorJwt: string;
  readonly systemAccount: string;
  readonly systemAccountJwt: string;
  readonly account: string;
  readonly accountJwt: string;
}

export const ACCOUNT_NAME = 'KEYLEDGER';

export async function accountJwt(seeds: OperatorSeeds, revocations: Revocations): Promise<string> {
  return encodeAccount(
    ACCOUNT_NAME,
    keyPair(seeds.account),
    { limits: { ...UNLIMITED, ...UNLIMITED_JETSTREAM }, revocations: { ...revocations } },
    { signer: keyPair(seeds.operator) },
  );
}

export async function serverJwts(seeds: OperatorSeeds, revocations: Revocations): Promise<ServerJwts> {
  const operator = keyPair(seeds.operator);
  const system = keyPair(seeds.systemAccount);
  return {
    operatorJwt: await encodeOperator('keyledger-operator', operator, { system_account: system.getPublicKey() }),
    systemAccount: system.getPublicKey(),
    systemAccountJwt: await encodeAccount('SYS', system, { limits: { ...UNLIMITED } }, { signer: operator }),
    account: publicKeyOf(seeds.account),
    accountJwt: await accountJwt(seeds, revocations),
  };
}

/**
 * A user of Keyledger's account as a `.creds` file (its JWT and seed), signed by the account key:
 * the server needs no change to accept it.
 */
export async function userCreds(seeds: OperatorSeeds, userName: string, userSeed: string, permissions: BusPermissions): Promise<string> {
  const user = await encodeUser(userName, keyPair(userSeed), keyPair(seeds.account), {
    pub: { allow: [...permissions.publish.allow], deny: [...permissions.publish.deny] },
    sub: { allow: [...permissions.subscribe.allow], deny: [...permissions.subscribe.deny] },
    ...(permissions.respond ? { resp: { max: 1, ttl: RESPONSE_TTL_NS } } : {}),
  });
  return new TextDecoder().decode(fmtCreds(user, keyPair(userSeed)));
}

/** The system account's user, for pushing account updates (`$SYS.REQ.ACCOUNT.<id>.CLAIMS.UPDATE`). */
export async function systemUserCreds(seeds: OperatorSeeds): Promise<string> {
  const user = await encodeUser('system', keyPair(seeds.systemUser), keyPair(seeds.systemAccount));
  return new TextDecoder().decode(fmtCreds(user, keyPair(seeds.systemUser)));
}

/**
 * The authorization block of a nats-server configuration: trusted operator, system account and
 * the accounts preloaded into a memory resolver. Listening and JetStream are the caller's.
 */
export function serverAuthConfig(jwts: ServerJwts): string {
  return [
    // A client's CONNECT line carries its user JWT, and a JWT listing a service's subjects
    // passes NATS's default 4 KiB limit: the server would drop the connection unexplained.
    `max_control_line: ${MAX_CONTROL_LINE}`,
    `operator: ${jwts.operatorJwt}`,
    `system_account: ${jwts.systemAccount}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${jwts.systemAccount}: ${jwts.systemAccountJwt}`,
    `  ${jwts.account}: ${jwts.accountJwt}`,
    '}',
    '',
  ].join('\n');
}

/** The longest protocol line the server accepts: room for the largest user JWT in a CONNECT. */
export const MAX_CONTROL_LINE = 16_384;

/** The subject on which the server takes a new JWT of `account` from the system account's user. */
export function accountUpdateSubject(account: string): string {
  return `$SYS.REQ.ACCOUNT.${account}.CLAIMS.UPDATE`;
}
