// Original file: libs/contracts/proto/keyledger/v1/audit.proto


export interface GetKeyAtRequest {
  'keyId'?: (string);
  'at'?: (string);
}

export interface GetKeyAtRequest__Output {
  'keyId': (string);
  'at': (string);
}
