import { createHash } from 'node:crypto';
import { uuidv7 } from 'uuidv7';

/**
 * Event ids are UUIDv7: unique without coordination and roughly time-ordered, which keeps
 * the event_id index compact and makes ids sortable when read by people.
 */
export function newEventId(): string {
  return uuidv7();
}

/**
 * An event id derived from a name (a UUIDv8 of the name's SHA-256): whoever derives it from the
 * same name gets the same id, so an append repeated by a retry or by a second replica is one
 * event in the store. For ids of what happens once per name (an anomaly per key, detector and
 * window); anything else takes `newEventId`.
 */
export function nameBasedEventId(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex').slice(0, 32).split('');
  hex[12] = '8';
  // The variant: 10xx.
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const text = hex.join('');
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
}

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
const PREFIX = /^[a-z][a-z0-9]{0,15}$/;

/**
 * Prefixed, time-ordered ids such as `key_01jd8x…`: the prefix tells a reader what the id
 * names, and the Crockford base32 body (26 characters, from a UUIDv7) sorts by creation time
 * (`at`, when given: a command's clock).
 */
export function newPrefixedId(prefix: string, at?: Date): string {
  if (!PREFIX.test(prefix)) throw new RangeError(`invalid id prefix: ${JSON.stringify(prefix)}`);
  let hex = uuidv7().replaceAll('-', '');
  // An injected clock's time in place of the generator's: the id then says when the command ran.
  if (at !== undefined) hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, '0').slice(-12) + hex.slice(12);
  let value = BigInt(`0x${hex}`);
  let body = '';
  for (let i = 0; i < 26; i += 1) {
    body = CROCKFORD[Number(value & 31n)] + body;
    value >>= 5n;
  }
  return `${prefix}_${body}`;
}

/**
 * When a prefixed id was made (epoch ms): the UUIDv7 timestamp in its body. Undefined for a
 * string that is not a prefixed id.
 */
export function timeOfPrefixedId(id: string): number | undefined {
  const body = /^[a-z][a-z0-9]{0,15}_([0-9a-hjkmnp-tv-z]{26})$/.exec(id)?.[1];
  if (!body) return undefined;
  let value = 0n;
  for (const char of body) value = (value << 5n) | BigInt(CROCKFORD.indexOf(char));
  // The 128 bits of the UUID: its first 48 are the milliseconds.
  return Number(value >> 80n);
}
