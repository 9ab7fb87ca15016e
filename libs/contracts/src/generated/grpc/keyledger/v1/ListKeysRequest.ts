// Original file: libs/contracts/proto/keyledger/v1/keys.proto


/**
 * One page of a tenant's keys, in key id order.
 */
export interface ListKeysRequest {
  'tenant'?: (string);
  /**
   * Keys per page, 1 to 500; 0: 100.
   */
  'limit'?: (number);
  /**
   * The next_cursor of the page before; empty: the first page.
   */
  'cursor'?: (string);
  /**
   * Only this owner's keys; empty: every owner.
   */
  'owner'?: (string);
  /**
   * Only keys in this status now (active, suspended, revoked, expired); empty: any.
   */
  'status'?: (string);
}

/**
 * One page of a tenant's keys, in key id order.
 */
export interface ListKeysRequest__Output {
  'tenant': (string);
  /**
   * Keys per page, 1 to 500; 0: 100.
   */
  'limit': (number);
  /**
   * The next_cursor of the page before; empty: the first page.
   */
  'cursor': (string);
  /**
   * Only this owner's keys; empty: every owner.
   */
  'owner': (string);
  /**
   * Only keys in this status now (active, suspended, revoked, expired); empty: any.
   */
  'status': (string);
}
