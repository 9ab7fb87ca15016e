import type { KeyObject } from 'node:crypto';
import type { OpenedKey } from '@keyledger/key-delivery';
import { openDelivery, parseDeliveryPublicKeys } from '@keyledger/key-delivery';
import type { TestContext } from './test-context.js';

/**
 * Opens a delivery as its owner's client does (`openDelivery`: signed with the context's
 * delivery key, for this tenant and owner, then unsealed); throws when it is refused, so a test
 * that reads deliveries also checks that every one was signed for its recipient.
 */
export function openDelivered(
  ctx: Pick<TestContext, 'deliveryPublicKeys'>,
  body: string | Uint8Array,
  receiver: { readonly tenant: string; readonly owner: string; readonly privateKey: string | KeyObject },
): OpenedKey {
  const delivery = openDelivery(body, { ...receiver, publicKeys: parseDeliveryPublicKeys(ctx.deliveryPublicKeys) });
  if (!delivery.ok) throw new Error(`delivery to ${receiver.tenant}/${receiver.owner} refused: ${delivery.reason}`);
  return delivery.opened;
}
