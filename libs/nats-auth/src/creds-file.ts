import { isSeedOf } from './identities.js';

const CREDS = /-----BEGIN NATS USER JWT-----\s*\n\s*([A-Za-z0-9_.-]+)\s*\n[\s\S]*-----BEGIN USER NKEY SEED-----\s*\n\s*(SU[A-Z2-7]+)\s*\n/;
const USER_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * The user a `.creds` file (a user JWT and its nkey seed) is for, or undefined when the text is
 * not one. The name gives the user's inbox prefix. The signature is the server's to check.
 */
export function credsUserName(text: string): string | undefined {
  const payload = CREDS.exec(text)?.[1]?.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { name?: unknown; nats?: { type?: unknown } };
    return claims.nats?.type === 'user' && typeof claims.name === 'string' && USER_NAME.test(claims.name) ? claims.name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The user of a `.creds` file that a NATS client can use: its JWT names a user and its nkey seed
 * decodes (a truncated or edited seed fails its checksum). Undefined otherwise.
 */
export function usableCredsUserName(text: string): string | undefined {
  const seed = CREDS.exec(text)?.[2];
  return seed !== undefined && isSeedOf(seed, 'user') ? credsUserName(text) : undefined;
}
