import { MAX_EVENT_BYTES } from '@keyledger/contracts';
import {
  MESSAGE_HEADROOM_BYTES,
  MIN_NATS_MAX_PAYLOAD,
  NATS_DEFAULT_MAX_PAYLOAD,
  NatsMessageLimitTooSmall,
  SPLIT_MESSAGE_BYTES,
  assertMessageLimit,
  maxPayloadOf,
} from './message-limit.js';

/** A connection as the client keeps it: INFO once connected, none while it reconnects. */
function connection(maxPayload: number | undefined): { info: { max_payload: number } | undefined; getServer: () => string } {
  return { info: maxPayload === undefined ? undefined : { max_payload: maxPayload }, getServer: () => 'nats.example:4222' };
}

describe('NATS message limit', () => {
  it('needs room for the largest event with its envelope and headers, and splits what grows to fit any server it runs on', () => {
    expect(MIN_NATS_MAX_PAYLOAD).toBeGreaterThanOrEqual(MAX_EVENT_BYTES + MESSAGE_HEADROOM_BYTES);
    expect(MIN_NATS_MAX_PAYLOAD).toBeLessThan(NATS_DEFAULT_MAX_PAYLOAD);
    expect(SPLIT_MESSAGE_BYTES + MESSAGE_HEADROOM_BYTES).toBe(MIN_NATS_MAX_PAYLOAD);
  });

  it('keeps the last limit the server announced while the client reconnects, and assumes the smallest before any', () => {
    const nc = connection(NATS_DEFAULT_MAX_PAYLOAD);
    expect(maxPayloadOf(nc)).toBe(NATS_DEFAULT_MAX_PAYLOAD);
    nc.info = undefined;
    expect(maxPayloadOf(nc)).toBe(NATS_DEFAULT_MAX_PAYLOAD);
    nc.info = { max_payload: 400 * 1024 };
    expect(maxPayloadOf(nc)).toBe(400 * 1024);
    expect(maxPayloadOf(connection(undefined))).toBe(MIN_NATS_MAX_PAYLOAD);
  });

  it('refuses a server below the smallest limit, saying which server, its limit and what is needed', () => {
    expect(() => assertMessageLimit(connection(MIN_NATS_MAX_PAYLOAD))).not.toThrow();
    const refuse = (): void => assertMessageLimit(connection(64 * 1024));
    expect(refuse).toThrow(NatsMessageLimitTooSmall);
    expect(refuse).toThrow(
      `the NATS server at nats.example:4222 accepts messages of at most 65536 bytes (max_payload); Keyledger needs at least ${MIN_NATS_MAX_PAYLOAD}`,
    );
  });
});
