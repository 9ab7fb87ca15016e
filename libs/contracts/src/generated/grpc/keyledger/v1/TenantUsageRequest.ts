// Original file: libs/contracts/proto/keyledger/v1/usage.proto


export interface TenantUsageRequest {
  'tenant'?: (string);
  'since'?: (string);
  'until'?: (string);
  /**
   * How many keys and addresses to list: 1 to 100, default 10.
   */
  'limit'?: (number);
  '_since'?: "since";
  '_until'?: "until";
  '_limit'?: "limit";
}

export interface TenantUsageRequest__Output {
  'tenant': (string);
  'since'?: (string);
  'until'?: (string);
  /**
   * How many keys and addresses to list: 1 to 100, default 10.
   */
  'limit'?: (number);
  '_since'?: "since";
  '_until'?: "until";
  '_limit'?: "limit";
}
