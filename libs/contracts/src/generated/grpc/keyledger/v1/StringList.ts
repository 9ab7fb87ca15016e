// Original file: libs/contracts/proto/keyledger/v1/keys.proto


/**
 * A list of strings whose presence can be told apart from an empty list.
 */
export interface StringList {
  'values'?: (string)[];
}

/**
 * A list of strings whose presence can be told apart from an empty list.
 */
export interface StringList__Output {
  'values': (string)[];
}
