import type { EventRejectionReason, GlobalPosition } from '@keyledger/contracts';
import type { EventAuthentication, EventAuthenticator } from '@keyledger/event-auth';

/** A relay heartbeat as read: the store's newest authentic position, and when (relay's clock, epoch ms) it was read. */
export interface RelayHeartbeat {
  readonly head: GlobalPosition;
  readonly sentAt: number;
}

const DECIMAL = /^\d{1,20}$/;

/** The message the relay leader publishes on `<prefix>.v1.relay.heartbeat`, sealed under the event key's heartbeat subkey. */
export function encodeRelayHeartbeat(authenticator: EventAuthenticator, head: GlobalPosition, at: Date): string {
  const fields = { transactionId: head.transactionId, position: head.position, at: at.toISOString() };
  return JSON.stringify({ ...fields, auth: authenticator.sealHeartbeat(fields) });
}

/** One decoder for every heartbeat (one a second, to every key projection). */
const UTF8 = new TextDecoder();

/**
 * The one way from a message of the heartbeat subject to a RelayHeartbeat: parsed and its seal
 * checked. Anything else is reported to the rejection sink like a refused event (counted in
 * `keyledger_events_rejected_total`, logged, alerted) and `read` answers undefined.
 */

export class RelayHeartbeatReader {
  constructor(private readonly auth: EventAuthentication) {}

  read(payload: Uint8Array, subject: string): RelayHeartbeat | undefined {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(UTF8.decode(payload)) as Record<string, unknown>;
    } catch {
      return this.refuse(subject, 'malformed', 'not JSON');
    }
    const { transactionId, position, at, auth } = body ?? {};
    const seal = auth as { v?: unknown; mac?: unknown } | undefined;
    const sentAt = typeof at === 'string' ? Date.parse(at) : Number.NaN;
    if (
      typeof transactionId !== 'string' ||
      typeof position !== 'string' ||
      typeof at !== 'string' ||
      !DECIMAL.test(transactionId) ||
      !DECIMAL.test(position) ||
      Number.isNaN(sentAt) ||
      typeof seal?.v !== 'number' ||
      typeof seal.mac !== 'string'
    )
      return this.refuse(subject, 'malformed', 'not a sealed relay heartbeat (transactionId, position, at, auth)');
    const mac = this.auth.authenticator.checkHeartbeat({ transactionId, position, at }, { v: seal.v, mac: seal.mac });
    if (mac !== 'ok') return this.refuse(subject, mac, mac === 'bad-mac' ? 'the heartbeat seal does not match' : `no event key version ${seal.v} is configured`);
    return { head: { transactionId, position }, sentAt };
  }

  private refuse(subject: string, reason: EventRejectionReason, detail: string): undefined {
    this.auth.rejections.reject({ source: 'bus', reason, subject, detail });
    return undefined;
  }
}
