// Original file: libs/contracts/proto/keyledger/v1/audit.proto


export interface SearchTrailRequest {
  /**
   * Only this tenant's events; an admin of one tenant searches only its own (the default),
   * root every tenant when it is unset.
   */
  'tenant'?: (string);
  /**
   * Only events of this owner's keys and settings.
   */
  'owner'?: (string);
  /**
   * Only events done by this actor.
   */
  'actor'?: (string);
  /**
   * Only these event types (none: every type).
   */
  'types'?: (string)[];
  /**
   * Occurred at or after `since`, before `until`.
   */
  'since'?: (string);
  'until'?: (string);
  /**
   * The next_cursor of the page before.
   */
  'cursor'?: (string);
  /**
   * Events per page, 1 to 500; default 100.
   */
  'limit'?: (number);
  '_tenant'?: "tenant";
  '_owner'?: "owner";
  '_actor'?: "actor";
  '_since'?: "since";
  '_until'?: "until";
  '_cursor'?: "cursor";
  '_limit'?: "limit";
}

export interface SearchTrailRequest__Output {
  /**
   * Only this tenant's events; an admin of one tenant searches only its own (the default),
   * root every tenant when it is unset.
   */
  'tenant'?: (string);
  /**
   * Only events of this owner's keys and settings.
   */
  'owner'?: (string);
  /**
   * Only events done by this actor.
   */
  'actor'?: (string);
  /**
   * Only these event types (none: every type).
   */
  'types': (string)[];
  /**
   * Occurred at or after `since`, before `until`.
   */
  'since'?: (string);
  'until'?: (string);
  /**
   * The next_cursor of the page before.
   */
  'cursor'?: (string);
  /**
   * Events per page, 1 to 500; default 100.
   */
  'limit'?: (number);
  '_tenant'?: "tenant";
  '_owner'?: "owner";
  '_actor'?: "actor";
  '_since'?: "since";
  '_until'?: "until";
  '_cursor'?: "cursor";
  '_limit'?: "limit";
}
