// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface GetKeyRequest {
  'keyId'?: (string);
}

export interface GetKeyRequest__Output {
  'keyId': (string);
}
