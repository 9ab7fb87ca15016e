import { uuidv7 } from 'uuidv7';

/**
 * Event ids are UUIDv7: unique without coordination and roughly time-ordered, which keeps
 * the event_id index compact and makes ids sortable when read by people.
 */
export function newEventId(): string {
  return uuidv7();
}

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
const PREFIX = /^[a-z][a-z0-9]{0,15}$/;

/**
 * Prefixed, time-ordered ids such as `key_01jd8x…`: the prefix tells a reader what the id
 * names, and the Crockford base32 body (26 characters, from a UUIDv7) sorts by creation time.
 */
export function newPrefixedId(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new RangeError(`invalid id prefix: ${JSON.stringify(prefix)}`);
  const hex = uuidv7().replaceAll('-', '');
  let value = BigInt(`0x${hex}`);
  let body = '';
  for (let i = 0; i < 26; i += 1) {
    body = CROCKFORD[Number(value & 31n)] + body;
    value >>= 5n;
  }
  return `${prefix}_${body}`;
}
