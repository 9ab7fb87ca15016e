// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface TopUpCreditsRequest {
  'keyId'?: (string);
  'amount'?: (number);
}

export interface TopUpCreditsRequest__Output {
  'keyId': (string);
  'amount': (number);
}
