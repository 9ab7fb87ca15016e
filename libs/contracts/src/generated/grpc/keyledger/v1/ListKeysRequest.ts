// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface ListKeysRequest {
  'tenant'?: (string);
}

export interface ListKeysRequest__Output {
  'tenant': (string);
}
