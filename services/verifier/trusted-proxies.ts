/**
 * VERIFIER_TRUSTED_PROXIES: the peers whose caller, cost and tenant headers `/v1/authorize`
 * believes, and whose relayed `ip` gRPC Verify believes.
 */
export const TRUSTED_PROXIES = Symbol('TRUSTED_PROXIES');
