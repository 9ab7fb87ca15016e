// Original file: libs/contracts/proto/keyledger/v1/keys.proto


/**
 * Metadata entries whose presence can be told apart from an empty map.
 */
export interface Metadata {
  'entries'?: ({[key: string]: string});
}

/**
 * Metadata entries whose presence can be told apart from an empty map.
 */
export interface Metadata__Output {
  'entries': ({[key: string]: string});
}
