/** Stable codes of sealing failures, for transports and for clients deciding what to do. */
export const SEALED_KEY_ERROR_CODES = [
  'INVALID_PUBLIC_KEY',
  'INVALID_PRIVATE_KEY',
  'MALFORMED_ENVELOPE',
  'UNSUPPORTED_ENVELOPE_VERSION',
  'SEALED_KEY_OPEN_FAILED',
] as const;
export type SealedKeyErrorCode = (typeof SEALED_KEY_ERROR_CODES)[number];

/** A key could not be sealed or opened; `code` says why. */
export class SealedKeyError extends Error {
  override readonly name = 'SealedKeyError';
  constructor(
    readonly code: SealedKeyErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
