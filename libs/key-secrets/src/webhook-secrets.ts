import { createHash, hkdfSync } from 'node:crypto';
import type { Pepper } from './peppers.js';

const INFO = 'keyledger webhook signing v1';
/** Every webhook signing secret starts with this, so one found in a file is recognisable. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/**
 * Signing secrets of owners' webhooks, derived from the pepper and never stored: HKDF-SHA256
 * of the pepper under its own label, with the tenant, the owner and the registration's
 * `secretId` in the info (owner null for the tenant's notification webhook, so its secret is no
 * owner's). Registering again gives a new `secretId`, hence a new secret; a
 * database reader without the pepper cannot compute one.
 */
export class WebhookSecrets {
  constructor(private readonly peppers: readonly Pepper[]) {
    if (peppers.length === 0) throw new RangeError('at least one pepper is required');
  }

  /** The secret under the current pepper: what a registration shows its caller. */
  current(tenant: string, owner: string | null, secretId: string): string {
    return derive(this.peppers[0]!, tenant, owner, secretId);
  }

  /**
   * The secret under every configured pepper, current first. A sender signs with each, so a
   * receiver holding the secret of the previous pepper keeps verifying while a new pepper is
   * introduced, until it registers again.
   */
  all(tenant: string, owner: string | null, secretId: string): string[] {
    return this.peppers.map((pepper) => derive(pepper, tenant, owner, secretId));
  }
}

function derive(pepper: Pepper, tenant: string, owner: string | null, secretId: string): string {
  // Hashed: an owner may be 200 characters of anything, and HKDF's info is short.
  const context = createHash('sha256')
    .update(JSON.stringify([tenant, owner, secretId]))
    .digest('hex');
  const bytes = Buffer.from(hkdfSync('sha256', pepper.secret, Buffer.alloc(0), `${INFO} ${context}`, 32));
  return `${WEBHOOK_SECRET_PREFIX}${bytes.toString('base64url')}`;
}
