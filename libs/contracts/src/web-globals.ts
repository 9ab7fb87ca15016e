// The web platform's globals the contracts use, typed here because the contracts compile
// without Node's or the DOM's types (they are plain TypeScript). Every runtime they run on
// (Node 20+, browsers, Deno) has them.

interface ParsedUrl {
  readonly protocol: string;
  readonly username: string;
  readonly password: string;
  readonly hostname: string;
  readonly hash: string;
}

interface WebGlobals {
  readonly URL: new (text: string) => ParsedUrl;
  readonly TextEncoder: new () => { encode(text: string): Uint8Array };
  btoa(binary: string): string;
}

const web = globalThis as unknown as WebGlobals;

/** Parses an absolute URL with the WHATWG parser; throws when it is not one. */
export function parseUrl(text: string): ParsedUrl {
  return new web.URL(text);
}

/** The text's UTF-8 bytes in unpadded base64url (RFC 4648 §5). */
export function utf8Base64url(text: string): string {
  const binary = Array.from(new web.TextEncoder().encode(text), (byte) => String.fromCharCode(byte)).join('');
  return web.btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
