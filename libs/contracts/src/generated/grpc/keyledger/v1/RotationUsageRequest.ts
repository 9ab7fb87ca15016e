// Original file: libs/contracts/proto/keyledger/v1/usage.proto


export interface RotationUsageRequest {
  'keyId'?: (string);
}

export interface RotationUsageRequest__Output {
  'keyId': (string);
}
