import type { VersionedSecret } from './peppers.js';
import { VersionedSecretConfigError, parseVersionedSecrets } from './peppers.js';

/** An Ed25519 private key is a 32-byte seed. */
const SEED_BYTES = 32;

/**
 * Parses `KEYLEDGER_DELIVERY_SIGNING_KEYS`: comma-separated `<version>:<base64 of a 32-byte
 * Ed25519 seed>`, current first (any 32 random bytes are a seed: `openssl rand -base64 32`).
 * The version is the key id each delivery signature names. Throws `VersionedSecretConfigError`
 * naming the entry, never a secret.
 */
export function parseDeliverySigningKeys(text: string): VersionedSecret[] {
  const keys = parseVersionedSecrets(text, 'delivery signing key');
  const wrong = keys.find((key) => key.secret.length !== SEED_BYTES);
  if (wrong) throw new VersionedSecretConfigError(`delivery signing key version ${wrong.version} is not 32 bytes (an Ed25519 seed)`);
  return keys;
}
