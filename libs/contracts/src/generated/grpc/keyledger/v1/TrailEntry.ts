// Original file: libs/contracts/proto/keyledger/v1/audit.proto


/**
 * One event of a trail: what happened, when, and who did it (the event's metadata).
 */
export interface TrailEntry {
  'position'?: (string);
  /**
   * The event's version in its stream.
   */
  'version'?: (number);
  'eventId'?: (string);
  /**
   * The event type, e.g. "KeyRevoked".
   */
  'type'?: (string);
  'occurredAt'?: (string);
  /**
   * "admin-key:<key id>", "rotator", …
   */
  'actor'?: (string);
  'correlationId'?: (string);
}

/**
 * One event of a trail: what happened, when, and who did it (the event's metadata).
 */
export interface TrailEntry__Output {
  'position': (string);
  /**
   * The event's version in its stream.
   */
  'version': (number);
  'eventId': (string);
  /**
   * The event type, e.g. "KeyRevoked".
   */
  'type': (string);
  'occurredAt': (string);
  /**
   * "admin-key:<key id>", "rotator", …
   */
  'actor': (string);
  'correlationId': (string);
}
