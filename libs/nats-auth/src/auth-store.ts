import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { BusNames, ClientAllow } from './bus-permissions.js';
import { BUS_ROLES, clientNameProblem, clientPermissions, clientUserName, formatClientAllow, parseClientAllow, servicePermissions } from './bus-permissions.js';
import type { OperatorSeeds, Revocations, ServerJwts } from './identities.js';
import { accountJwt, isSeedOf, newOperatorSeeds, newUserSeed, publicKeyOf, serverAuthConfig, serverJwts, systemUserCreds, userCreds } from './identities.js';

/** A refused `clients` operation or an unusable store; `code` is stable, the message one line. */
export class NatsAuthError extends Error {
  constructor(
    readonly code: 'NO_AUTH_STORE' | 'BAD_AUTH_STORE' | 'CLIENT_EXISTS' | 'CLIENT_NOT_FOUND' | 'CLIENT_REVOKED' | 'INVALID_CLIENT',
    message: string,
  ) {
    super(message);
    this.name = 'NatsAuthError';
  }
}

const seedsSchema = z.object({ operator: z.string(), systemAccount: z.string(), systemUser: z.string(), account: z.string() }).strict();
const clientSchema = z
  .object({ name: z.string(), allows: z.array(z.string()), publicKey: z.string(), createdAt: z.string(), revokedAt: z.string().optional() })
  .strict();
const stateSchema = z
  .object({
    version: z.literal(1),
    seeds: seedsSchema,
    services: z.record(z.string(), z.string()),
    clients: z.array(clientSchema),
  })
  .strict();

type State = z.infer<typeof stateSchema>;

/** One internal client as the registry lists it. */
export interface ClientRecord {
  readonly name: string;
  readonly allows: readonly string[];
  readonly publicKey: string;
  readonly createdAt: string;
  readonly revokedAt?: string;
}

/** The files of an auth store directory (each mode 0600). */
export const AUTH_FILES = {
  /** Seeds of the operator, accounts and users, and the client registry: the installation's signing material. */
  state: 'operator.json',
  /** The authorization block for nats-server (`include` it, or use it whole as `-c` with listen flags). */
  serverConfig: 'server-auth.conf',
  systemCreds: 'system.creds',
} as const;

/** Where a service's (or the operator identity's) `.creds` file is kept in an auth store. */
export function serviceCredsFile(dir: string, role: string): string {
  return join(dir, `${role}.creds`);
}

async function writePrivate(path: string, text: string): Promise<void> {
  // Written whole under a temporary name and renamed: a reader never sees half a file, and the mode is set at creation.
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, path);
}

/**
 * The operator's signing material and the registry of internal clients, in one directory
 * (`.keyledger/nats-auth` locally; a Kubernetes Secret in a deployment). It mints the users'
 * credentials from the permission table and keeps the server's account JWT, with its revocations.
 */
export class NatsAuthStore {
  private constructor(
    readonly dir: string,
    private state: State,
  ) {}

  /** Opens the store in `dir`, creating the operator and accounts once when `create` is set. */
  static async open(dir: string, options: { readonly create: boolean }): Promise<NatsAuthStore> {
    let text: string;
    try {
      text = await readFile(join(dir, AUTH_FILES.state), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (!options.create) throw new NatsAuthError('NO_AUTH_STORE', `no NATS operator in ${dir} (npm start creates one, or keyledger nats-auth init)`);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const store = new NatsAuthStore(dir, { version: 1, seeds: newOperatorSeeds(), services: {}, clients: [] });
      await store.save();
      return store;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const state = stateSchema.safeParse(parsed);
    if (!state.success) throw new NatsAuthError('BAD_AUTH_STORE', `${join(dir, AUTH_FILES.state)} is not a Keyledger NATS operator file`);
    // A seed that does not decode would fail deep inside the first signature: named here instead.
    const { seeds, services } = state.data;
    const corrupt = [
      ...(isSeedOf(seeds.operator, 'operator') ? [] : ['seeds.operator']),
      ...(isSeedOf(seeds.systemAccount, 'account') ? [] : ['seeds.systemAccount']),
      ...(isSeedOf(seeds.account, 'account') ? [] : ['seeds.account']),
      ...(isSeedOf(seeds.systemUser, 'user') ? [] : ['seeds.systemUser']),
      ...Object.entries(services)
        .filter(([, seed]) => !isSeedOf(seed, 'user'))
        .map(([role]) => `services.${role}`),
    ];
    if (corrupt.length > 0)
      throw new NatsAuthError(
        'BAD_AUTH_STORE',
        `${join(dir, AUTH_FILES.state)} holds nkey seeds that do not decode (${corrupt.join(', ')}): restore the directory from its backup; a new operator would mean new credentials for every service and client`,
      );
    return new NatsAuthStore(dir, state.data);
  }

  get seeds(): OperatorSeeds {
    return this.state.seeds;
  }

  get account(): string {
    return publicKeyOf(this.state.seeds.account);
  }

  /** Every revoked client's key, void up to its revocation. */
  revocations(): Revocations {
    return Object.fromEntries(
      this.state.clients
        .filter((client) => client.revokedAt !== undefined)
        .map((client) => [client.publicKey, Math.floor(Date.parse(client.revokedAt!) / 1000)]),
    );
  }

  clients(): readonly ClientRecord[] {
    return this.state.clients;
  }

  /**
   * Writes the server's authorization block, the system user's creds and each service's creds
   * for these names. Service keys are made once and kept; their JWTs follow the permission table.
   */
  async writeServerFiles(names: BusNames): Promise<void> {
    let changed = false;
    for (const role of BUS_ROLES) {
      if (this.state.services[role] === undefined) {
        this.state.services[role] = newUserSeed();
        changed = true;
      }
    }
    if (changed) await this.save();
    for (const role of BUS_ROLES)
      await writePrivate(serviceCredsFile(this.dir, role), await userCreds(this.seeds, role, this.state.services[role]!, servicePermissions(role, names)));
    await writePrivate(join(this.dir, AUTH_FILES.systemCreds), await systemUserCreds(this.seeds));
    await this.writeServerConfig();
  }

  /**
   * Registers a client and returns its `.creds` (shown once: its seed is not kept). `deliver`,
   * when given, takes the creds first (writes them to a file, say): when it fails, nothing is
   * registered, so no client exists whose credentials went nowhere.
   */
  async addClient(name: string, allowTexts: readonly string[], names: BusNames, now: Date, deliver?: (creds: string) => Promise<void>): Promise<string> {
    const problem = clientNameProblem(name);
    if (problem) throw new NatsAuthError('INVALID_CLIENT', problem);
    if (allowTexts.length === 0) throw new NatsAuthError('INVALID_CLIENT', 'a client needs at least one --allow');
    let allows: ClientAllow[];
    try {
      allows = allowTexts.map(parseClientAllow);
    } catch (error) {
      throw new NatsAuthError('INVALID_CLIENT', (error as Error).message);
    }
    if (this.state.clients.some((client) => client.name === name)) throw new NatsAuthError('CLIENT_EXISTS', `a client named ${name} exists already`);
    const seed = newUserSeed();
    const creds = await userCreds(this.seeds, clientUserName(name), seed, clientPermissions(name, allows, names));
    await deliver?.(creds);
    this.state.clients.push({ name, allows: allows.map(formatClientAllow), publicKey: publicKeyOf(seed), createdAt: now.toISOString() });
    await this.save();
    return creds;
  }

  /**
   * Revokes a client: its key goes into the account's revocations, the server configuration is
   * rewritten (a restarted server keeps refusing it) and the new account JWT is returned for
   * pushing to running servers.
   */
  async revokeClient(name: string, now: Date): Promise<{ readonly account: string; readonly accountJwt: string }> {
    const client = this.state.clients.find((candidate) => candidate.name === name);
    if (!client) throw new NatsAuthError('CLIENT_NOT_FOUND', `no client named ${name}`);
    if (client.revokedAt !== undefined) throw new NatsAuthError('CLIENT_REVOKED', `client ${name} was revoked already (${client.revokedAt})`);
    // A JWT is void when issued at or before the revocation's second: the client's was issued earlier.
    client.revokedAt = new Date(Math.ceil(now.getTime() / 1000) * 1000).toISOString();
    await this.save();
    const jwts = await this.writeServerConfig();
    return { account: jwts.account, accountJwt: jwts.accountJwt };
  }

  /** The server's JWTs as they stand (operator, accounts with the current revocations), for a NATS configuration elsewhere. */
  async serverJwts(): Promise<ServerJwts> {
    return serverJwts(this.seeds, this.revocations());
  }

  /** The account's current JWT (with every revocation), for pushing to a running server. */
  async accountClaims(): Promise<{ readonly account: string; readonly accountJwt: string }> {
    return { account: this.account, accountJwt: await accountJwt(this.seeds, this.revocations()) };
  }

  private async writeServerConfig(): Promise<ServerJwts> {
    const jwts = await serverJwts(this.seeds, this.revocations());
    await writePrivate(join(this.dir, AUTH_FILES.serverConfig), serverAuthConfig(jwts));
    return jwts;
  }

  private async save(): Promise<void> {
    await writePrivate(join(this.dir, AUTH_FILES.state), `${JSON.stringify(this.state, null, 2)}\n`);
  }
}
