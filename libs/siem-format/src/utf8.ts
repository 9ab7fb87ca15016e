// The web platform's UTF-8 codecs, typed here because the domain compiles without Node's or the
// DOM's types; every runtime it runs on (Node 20+, browsers, Deno) has them.
interface Utf8Globals {
  readonly TextEncoder: new () => { encode(text: string): Uint8Array };
  readonly TextDecoder: new (label: 'utf-8', options?: { fatal?: boolean }) => { decode(bytes: Uint8Array): string };
}

const web = globalThis as unknown as Utf8Globals;
const encoder = new web.TextEncoder();
const strict = new web.TextDecoder('utf-8', { fatal: true });

/** The text's UTF-8 bytes. */
export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The bytes as UTF-8 text; throws on a byte sequence that is not UTF-8. */
export function decodeUtf8Strictly(bytes: Uint8Array): string {
  return strict.decode(bytes);
}
