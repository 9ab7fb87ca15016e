// Original file: libs/contracts/proto/keyledger/v1/audit.proto


/**
 * One event found: its trail entry, the stream it belongs to, and that stream's tenant and owner.
 */
export interface TrailSearchEntry {
  'position'?: (string);
  'version'?: (number);
  'eventId'?: (string);
  'type'?: (string);
  'occurredAt'?: (string);
  'actor'?: (string);
  'correlationId'?: (string);
  'streamId'?: (string);
  /**
   * Unset for a stream of no tenant.
   */
  'tenant'?: (string);
  /**
   * Unset for a stream of no owner (a tenant's settings).
   */
  'owner'?: (string);
  '_tenant'?: "tenant";
  '_owner'?: "owner";
}

/**
 * One event found: its trail entry, the stream it belongs to, and that stream's tenant and owner.
 */
export interface TrailSearchEntry__Output {
  'position': (string);
  'version': (number);
  'eventId': (string);
  'type': (string);
  'occurredAt': (string);
  'actor': (string);
  'correlationId': (string);
  'streamId': (string);
  /**
   * Unset for a stream of no tenant.
   */
  'tenant'?: (string);
  /**
   * Unset for a stream of no owner (a tenant's settings).
   */
  'owner'?: (string);
  '_tenant'?: "tenant";
  '_owner'?: "owner";
}
