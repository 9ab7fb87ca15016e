import { DomainError } from './domain-error.js';
import type { RecordedKeyStatus } from './key-status.js';
import { statusAt } from './key-status.js';

/**
 * The lifecycle of one key as a decider: `decide(command, state, now)` returns the events a
 * command produces or throws a DomainError; `evolve(state, event)` folds an event into the
 * state. Both are pure so every service (and a replay) reaches the same answer.
 */
export interface KeyLifecycleState {
  readonly exists: boolean;
  readonly status: RecordedKeyStatus;
  readonly expiresAt: Date | undefined;
  readonly version: number;
}

export const initialKeyLifecycleState = (): KeyLifecycleState => ({
  exists: false,
  status: 'active',
  expiresAt: undefined,
  version: 0,
});

export type KeyLifecycleCommand =
  | { readonly type: 'IssueKey'; readonly keyId: string; readonly expiresAt?: Date }
  | { readonly type: 'SuspendKey'; readonly keyId: string; readonly reason?: string }
  | { readonly type: 'ResumeKey'; readonly keyId: string }
  | { readonly type: 'RevokeKey'; readonly keyId: string; readonly reason: string };

export type KeyLifecycleEvent =
  | { readonly type: 'KeyIssued'; readonly data: { readonly keyId: string; readonly expiresAt?: string } }
  | { readonly type: 'KeySuspended'; readonly data: { readonly keyId: string; readonly reason?: string } }
  | { readonly type: 'KeyResumed'; readonly data: { readonly keyId: string } }
  | { readonly type: 'KeyRevoked'; readonly data: { readonly keyId: string; readonly reason: string } };

function requireExisting(state: KeyLifecycleState, keyId: string): void {
  if (!state.exists) throw new DomainError('KEY_NOT_FOUND', `key ${keyId} does not exist`);
}

function refuse(command: KeyLifecycleCommand, status: string): never {
  throw new DomainError('INVALID_TRANSITION', `cannot ${command.type} key ${command.keyId}: it is ${status}`);
}

export function decideKeyLifecycle(command: KeyLifecycleCommand, state: KeyLifecycleState, now: Date): readonly KeyLifecycleEvent[] {
  if (command.type === 'IssueKey') {
    if (state.exists) throw new DomainError('KEY_ALREADY_EXISTS', `key ${command.keyId} already exists`);
    const data = command.expiresAt === undefined ? { keyId: command.keyId } : { keyId: command.keyId, expiresAt: command.expiresAt.toISOString() };
    return [{ type: 'KeyIssued', data }];
  }
  requireExisting(state, command.keyId);
  const status = statusAt(state.status, state.expiresAt, now);
  switch (command.type) {
    case 'SuspendKey':
      if (status !== 'active') refuse(command, status);
      return [{ type: 'KeySuspended', data: command.reason === undefined ? { keyId: command.keyId } : { keyId: command.keyId, reason: command.reason } }];
    case 'ResumeKey':
      if (status !== 'suspended') refuse(command, status);
      return [{ type: 'KeyResumed', data: { keyId: command.keyId } }];
    case 'RevokeKey':
      // An expired or suspended key can still be revoked: revocation is the terminal record.
      if (status === 'revoked') refuse(command, status);
      return [{ type: 'KeyRevoked', data: { keyId: command.keyId, reason: command.reason } }];
    default:
      return command satisfies never;
  }
}

export function evolveKeyLifecycle(state: KeyLifecycleState, event: KeyLifecycleEvent): KeyLifecycleState {
  const version = state.version + 1;
  switch (event.type) {
    case 'KeyIssued':
      return { exists: true, status: 'active', expiresAt: event.data.expiresAt === undefined ? undefined : new Date(event.data.expiresAt), version };
    case 'KeySuspended':
      return { ...state, status: 'suspended', version };
    case 'KeyResumed':
      return { ...state, status: 'active', version };
    case 'KeyRevoked':
      return { ...state, status: 'revoked', version };
    default:
      return event satisfies never;
  }
}
