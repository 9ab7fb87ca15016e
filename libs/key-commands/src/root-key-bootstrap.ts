import type { CommandContext } from '@keyledger/admin-auth';
import { SYSTEM_CALLER, commandMetadata } from '@keyledger/admin-auth';
import { ApiError, ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import { ConcurrencyConflictError, NO_STREAM } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import { DEFAULT_KEY_PREFIX, parseKey } from '@keyledger/key-domain';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyCommandRunnerDependencies } from './key-command-runner.js';
import { KeyCommandRunner } from './key-command-runner.js';

const SYSTEM_STREAM = 'system-bootstrap';

export interface RootKeyBootstrapDependencies extends KeyCommandRunnerDependencies {
  readonly hasher: KeyHasher;
}

/** The root admin key as the bootstrap made it; `generatedKey` only when it generated the plaintext. */
export interface BootstrappedRootKey {
  readonly keyId: string;
  readonly generatedKey?: string;
}

/**
 * Creates the root admin key on the installation's first start, once across replicas: the key
 * id is recorded first on the system stream, which can be started only once, then the key is
 * issued under that id (a replica that died in between leaves the id for the next start).
 */
export class RootKeyBootstrap {
  private readonly runner: KeyCommandRunner;

  constructor(private readonly deps: RootKeyBootstrapDependencies) {
    this.runner = new KeyCommandRunner(deps);
  }

  /**
   * Uses `bootstrapKey` when given; answers the plaintext only when it generated one, for the
   * caller to print once, and undefined when the key exists or another replica is creating it.
   */
  async run(bootstrapKey: string | undefined): Promise<BootstrappedRootKey | undefined> {
    if (bootstrapKey !== undefined && !parseKey(bootstrapKey))
      throw new ApiError('INVALID_ARGUMENT', 'KEYLEDGER_BOOTSTRAP_ADMIN_KEY is not a well-formed Keyledger key');
    const system: CommandContext = { caller: SYSTEM_CALLER, correlationId: 'bootstrap' };
    const [marker] = await this.deps.store.readStream(SYSTEM_STREAM);
    let keyId = (marker?.data as { keyId?: string } | undefined)?.keyId;
    if (!keyId) {
      keyId = newPrefixedId('key');
      try {
        await this.deps.store.append(SYSTEM_STREAM, NO_STREAM, [
          { type: 'AdminKeyBootstrapped', data: { keyId }, metadata: commandMetadata(system, this.deps.systemActor) },
        ]);
      } catch (error) {
        if (error instanceof ConcurrencyConflictError) return undefined; // another replica bootstraps
        throw error;
      }
    } else if ((await this.deps.store.streamVersion(streamIdOf('key', keyId))) > 0) {
      return undefined; // bootstrapped before
    }
    const material = bootstrapKey ? this.deps.hasher.material(bootstrapKey) : this.deps.hasher.newKey(DEFAULT_KEY_PREFIX, 'live');
    const parsed = parseKey(material.plaintext)!;
    await this.runner.run(
      {
        type: 'IssueKey',
        keyId,
        tenant: ROOT_TENANT,
        owner: 'keyledger',
        name: 'root admin key',
        environment: parsed.environment,
        prefix: parsed.prefix,
        digest: material.digest,
        hint: material.hint,
        scopes: ['keyledger:*'],
        ipAllowlist: [],
        metadata: {},
      },
      system,
    );
    return bootstrapKey ? { keyId } : { keyId, generatedKey: material.plaintext };
  }
}
