/** What every floor server answers: the verifier's answer for a valid key, so each floor carries the same payload. */
export const FLOOR_ANSWER = {
  valid: true,
  code: 'VALID',
  keyId: 'key_01jd0000000000000000000000',
  tenant: 'acme',
  owner: 'bench',
  scopes: ['orders:*'],
  env: 'live',
  meta: {},
} as const;
