import type { OwnerPublicKeyRegisteredData } from '@keyledger/contracts';

/** The latest registered X25519 public key (base64, raw 32 bytes) of each owner of one tenant. */
export type OwnerPublicKeyTable = ReadonlyMap<string, string>;

/** Folds one OwnerPublicKeyRegistered: a later registration replaces the owner's key. */
export function evolveOwnerPublicKeys(table: OwnerPublicKeyTable, data: OwnerPublicKeyRegisteredData): OwnerPublicKeyTable {
  const next = new Map(table);
  next.set(data.owner, data.publicKey);
  return next;
}

/** The public key new keys of `owner` are sealed to, or undefined when it registered none. */
export function ownerPublicKeyOf(table: OwnerPublicKeyTable, owner: string): string | undefined {
  return table.get(owner);
}
