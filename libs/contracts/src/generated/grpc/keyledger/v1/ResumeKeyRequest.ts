// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface ResumeKeyRequest {
  'keyId'?: (string);
}

export interface ResumeKeyRequest__Output {
  'keyId': (string);
}
