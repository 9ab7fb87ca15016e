// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface SuspendKeyRequest {
  'keyId'?: (string);
  'reason'?: (string);
  '_reason'?: "reason";
}

export interface SuspendKeyRequest__Output {
  'keyId': (string);
  'reason'?: (string);
  '_reason'?: "reason";
}
