import { randomBytes } from 'node:crypto';
import { WebhookSecrets } from './webhook-secrets.js';

const first = { version: 1, secret: randomBytes(32) };
const second = { version: 2, secret: randomBytes(32) };
const ID = 'whk_01jd0000000000000000000000';

describe('webhook signing secrets', () => {
  it('gives the same secret for the same registration, and another for anything else', () => {
    const secrets = new WebhookSecrets([first]);
    const secret = secrets.current('acme', 'billing', ID);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(new WebhookSecrets([first]).current('acme', 'billing', ID)).toBe(secret);
    expect(secrets.current('acme', 'orders', ID)).not.toBe(secret);
    expect(secrets.current('other', 'billing', ID)).not.toBe(secret);
    expect(secrets.current('acme', 'billing', 'whk_01jd0000000000000000000001')).not.toBe(secret);
    // No split of tenant and owner collides: the parts are framed, not concatenated.
    expect(secrets.current('a', 'b c', ID)).not.toBe(secrets.current('a b', 'c', ID));
    // The tenant's notification webhook (no owner) shares no secret with an owner's, whatever its name.
    expect(secrets.current('acme', null, ID)).not.toBe(secrets.current('acme', 'null', ID));
    expect(secrets.current('acme', null, ID)).not.toBe(secrets.current('acme', '', ID));
  });

  it('depends on the pepper, and signs with every configured one, current first', () => {
    const before = new WebhookSecrets([first]).current('acme', 'billing', ID);
    const rotated = new WebhookSecrets([second, first]);
    expect(rotated.current('acme', 'billing', ID)).not.toBe(before);
    expect(rotated.all('acme', 'billing', ID)).toEqual([rotated.current('acme', 'billing', ID), before]);
  });
});
