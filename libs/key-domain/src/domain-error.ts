/** Stable codes for rule violations; transports map them to status codes in one place. */
export const DOMAIN_ERROR_CODES = ['INVALID_ARGUMENT', 'INVALID_TRANSITION', 'KEY_NOT_FOUND', 'KEY_ALREADY_EXISTS', 'TENANT_KEY_QUOTA_EXCEEDED'] as const;
export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

/** A command that the rules refuse. Nothing is written when one is thrown. */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
