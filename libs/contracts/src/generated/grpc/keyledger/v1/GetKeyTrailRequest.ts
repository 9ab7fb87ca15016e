// Original file: libs/contracts/proto/keyledger/v1/audit.proto


export interface GetKeyTrailRequest {
  'keyId'?: (string);
}

export interface GetKeyTrailRequest__Output {
  'keyId': (string);
}
