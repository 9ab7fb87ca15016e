import type { EventMetadata } from '@keyledger/contracts';
import type { CommandContext } from './command-context.js';

/**
 * The metadata of the events a command records: its actor (the admin key, or the system
 * caller as `systemActor`), correlation, causation (the causing event, else the correlation)
 * and trace context.
 */
export function commandMetadata(context: CommandContext, systemActor = 'system:issuer'): EventMetadata {
  return {
    actor: context.caller.keyId === 'system' ? systemActor : `admin-key:${context.caller.keyId}`,
    correlationId: context.correlationId,
    causationId: context.causationId ?? context.correlationId,
    ...(context.traceparent ? { traceparent: context.traceparent } : {}),
  };
}
