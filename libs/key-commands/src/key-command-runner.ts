import type { AdminPermission, Caller, CommandContext } from '@keyledger/admin-auth';
import { authorizeAdmin, commandMetadata, seesTenant } from '@keyledger/admin-auth';
import type { KeyEvent } from '@keyledger/contracts';
import { ApiError, streamIdOf } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { retryConflicts } from '@keyledger/event-store';
import type { KeyCommand, KeyRecord } from '@keyledger/key-domain';
import { decideKey, evolveKey } from '@keyledger/key-domain';
import type { KeyIndex } from '@keyledger/key-projection';
import { loadKey } from './key-stream.js';

/** A key's record as one read of its stream found it, and the version it was at. */
export interface LoadedRecord<R extends KeyRecord | undefined = KeyRecord | undefined> {
  readonly record: R;
  readonly version: number;
}

/** Where in the store the last event of an append went (what a fence waits for). */
export interface AppendedPosition {
  readonly transactionId: string;
  readonly position: string;
}

/** A key after a command: its record with the new events folded in, and where they went (none: nothing to record). */
export interface AppendedKey {
  readonly record: KeyRecord;
  readonly position: AppendedPosition | undefined;
}

/** A command's decision on a key, not yet appended: its events and the record they make. */
export interface DecidedKey {
  readonly keyId: string;
  readonly events: readonly KeyEvent[];
  readonly record: KeyRecord;
}

/** A stream that has no event yet: where a new key's KeyIssued goes. */
export const NEW_KEY: LoadedRecord<undefined> = Object.freeze({ record: undefined, version: 0 });

export interface KeyCommandRunnerDependencies {
  readonly store: PostgresEventStore;
  /** The process's key projection: what verifiers consumed of a key's credits. */
  readonly index: Pick<KeyIndex, 'get'>;
  readonly clock?: () => Date;
  /** Who the events of the system caller name as actor. */
  readonly systemActor?: string;
}

/**
 * How a command on a key's stream runs: one read of the stream, the caller authorized against
 * the record read, the domain's decision (`decideKey`), and an append at the version read. A
 * lost race (another writer appended first) runs the whole attempt again (`retryConflicts`);
 * a refusal reaches the caller as the domain threw it.
 */
export class KeyCommandRunner {
  private readonly clock: () => Date;

  constructor(private readonly deps: KeyCommandRunnerDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** Runs a command on a key, each attempt reading its stream once; with a permission, for a caller who may see the key. */
  run(command: KeyCommand, context: CommandContext, permission?: AdminPermission): Promise<AppendedKey> {
    return retryConflicts(async () => {
      const loaded = permission ? await this.loadAuthorized(command.keyId, context.caller, permission) : await this.load(command.keyId);
      return this.decideAndAppend(command, loaded, context);
    });
  }

  /** Reads a key's stream; its credits are the projection's when it has applied this version (verifiers' consumption is not on the stream). */
  async load(keyId: string): Promise<LoadedRecord> {
    const { record, events } = await loadKey(this.deps.store, keyId);
    const indexed = this.deps.index.get(keyId);
    const credits = record?.credits && indexed?.credits && indexed.version === record.version ? indexed.credits : undefined;
    return { record: credits ? { ...record!, credits } : record, version: events.length };
  }

  /** Reads a key for a caller; a key of a tenant the caller may not see is KEY_NOT_FOUND, as an unknown key is. */
  async loadAuthorized(keyId: string, caller: Caller, permission: AdminPermission): Promise<LoadedRecord<KeyRecord>> {
    const { record, version } = await this.load(keyId);
    if (!record || !seesTenant(caller, record.tenant)) throw new ApiError('KEY_NOT_FOUND', `key ${keyId} does not exist`);
    authorizeAdmin(caller, record.tenant, permission);
    return { record, version };
  }

  /** Decides against a record already read and appends at its version: no read here. */
  decideAndAppend(command: KeyCommand, loaded: LoadedRecord, context: CommandContext): Promise<AppendedKey> {
    return this.append(this.decide(command, loaded), loaded, context);
  }

  /** What a command on a record already read would record, and the record after it: nothing stored yet. */
  decide(command: KeyCommand, loaded: LoadedRecord): DecidedKey {
    const events = decideKey(command, loaded.record, this.clock());
    return { keyId: command.keyId, events, record: events.reduce<KeyRecord | undefined>(evolveKey, loaded.record)! };
  }

  /** Appends a decision at the version its record was read at. */
  async append(decided: DecidedKey, loaded: LoadedRecord, context: CommandContext): Promise<AppendedKey> {
    if (decided.events.length === 0) return { record: decided.record, position: undefined };
    const metadata = commandMetadata(context, this.deps.systemActor);
    const result = await this.deps.store.append(
      streamIdOf('key', decided.keyId),
      loaded.version,
      decided.events.map((event) => ({ type: event.type, data: event.data, metadata })),
    );
    return { record: decided.record, position: result.events[result.events.length - 1] };
  }
}
