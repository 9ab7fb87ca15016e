import { MAX_EVENT_BYTES } from '@keyledger/contracts';
import {
  MESSAGE_HEADROOM_BYTES,
  MIN_NATS_MAX_PAYLOAD,
  NATS_DEFAULT_MAX_PAYLOAD,
  NatsMessageLimitTooSmall,
  assertMessageLimit,
  maxPayloadOf,
  messageBudget,
} from './message-limit.js';

/** What a connection's INFO says, as the client keeps it after connecting. */
const connection = (maxPayload: number | undefined) => ({
  info: maxPayload === undefined ? undefined : ({ max_payload: maxPayload } as never),
  getServer: () => 'nats.example:4222',
});

describe('NATS message limit', () => {
  it('needs room for the largest event with its envelope and headers', () => {
    expect(MIN_NATS_MAX_PAYLOAD).toBeGreaterThanOrEqual(MAX_EVENT_BYTES + MESSAGE_HEADROOM_BYTES);
    expect(MIN_NATS_MAX_PAYLOAD).toBeLessThan(NATS_DEFAULT_MAX_PAYLOAD);
  });

  it("sizes split messages under the server's max_payload, at most the part's own cap", () => {
    expect(messageBudget(connection(NATS_DEFAULT_MAX_PAYLOAD), 512 * 1024)).toBe(512 * 1024);
    expect(messageBudget(connection(MIN_NATS_MAX_PAYLOAD), 512 * 1024)).toBe(MIN_NATS_MAX_PAYLOAD - MESSAGE_HEADROOM_BYTES);
    // Before the first INFO (not connected yet): NATS's default.
    expect(maxPayloadOf(connection(undefined))).toBe(NATS_DEFAULT_MAX_PAYLOAD);
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
