import { randomBytes } from 'node:crypto';
import type { Caller } from '@keyledger/admin-auth';
import { ROOT_TENANT, listKeysRequestSchema } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import type { KeyPage } from '@keyledger/contracts';
import { KeyCommands, LIST_PAGE_BYTES } from './key-commands.js';

const root: Caller = { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] };
const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);

/** Adds a key to the index as its KeyIssued would, with `metadataBytes` of metadata. */
function addKey(index: KeyIndex, tenant: string, metadataBytes = 0): string {
  const keyId = newPrefixedId('key');
  const material = hasher.newKey('kl', 'live');
  const metadata: Record<string, string> = {};
  for (let n = 0; metadataBytes > 0; n += 1, metadataBytes -= 512) metadata[`m${n}`] = 'x'.repeat(Math.min(512, metadataBytes));
  index.apply({
    type: 'KeyIssued',
    streamVersion: 1,
    data: { keyId, tenant, owner: 'svc', environment: 'live', prefix: 'kl', digest: material.digest, hint: material.hint, scopes: [], ipAllowlist: [], metadata },
  });
  return keyId;
}

function allPages(keys: KeyCommands, tenant: string, limit: number): KeyPage[] {
  const pages: KeyPage[] = [];
  let cursor: string | undefined;
  do {
    const page = keys.list(listKeysRequestSchema.parse({ tenant, limit, ...(cursor ? { cursor } : {}) }), root);
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}

describe('listing a tenant’s keys', () => {
  let ctx: TestContext;
  let index: KeyIndex;
  let keys: KeyCommands;

  beforeAll(async () => {
    ctx = await createTestContext('key_list');
    index = new KeyIndex();
    keys = new KeyCommands({ store: ctx.store, hasher, index });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('pages through every key of the tenant once, in key id order, and only that tenant’s', () => {
    const ids = Array.from({ length: 7 }, () => addKey(index, 'paged'));
    addKey(index, 'other');
    const pages = allPages(keys, 'paged', 3);
    expect(pages.map((page) => page.keys.length)).toEqual([3, 3, 1]);
    expect(pages.flatMap((page) => page.keys.map((key) => key.keyId))).toEqual([...ids].sort());
    expect(pages.at(-1)!.nextCursor).toBeUndefined();
    // A page that ends exactly at the last key says there is no more.
    expect(allPages(keys, 'paged', 7).map((page) => page.keys.length)).toEqual([7]);
  });

  it('cuts a page short of its limit when its keys would make the reply too large for a message', () => {
    // 32 entries of 512 bytes: the largest metadata a key may hold.
    const ids = Array.from({ length: 40 }, () => addKey(index, 'heavy', 32 * 512));
    const pages = allPages(keys, 'heavy', 500);
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(LIST_PAGE_BYTES + 20_000);
    expect(pages.flatMap((page) => page.keys.map((key) => key.keyId))).toEqual([...ids].sort());
  });

  it('refuses a limit outside 1 to 500 and a cursor that is not a key id', () => {
    for (const bad of [{ limit: 0 }, { limit: 501 }, { cursor: 'nope' }])
      expect(listKeysRequestSchema.safeParse({ tenant: 'paged', ...bad }).success).toBe(false);
  });
});
