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
}
