/**
 * Every failure an API call can report, as one closed set with its HTTP and gRPC status.
 * Transports map errors to status codes here and nowhere else. Expected verification
 * outcomes (REVOKED, EXPIRED, …) are results, not errors.
 */
export const API_ERRORS = {
  INVALID_ARGUMENT: { http: 400, grpc: 3 },
  UNAUTHENTICATED: { http: 401, grpc: 16 },
  PERMISSION_DENIED: { http: 403, grpc: 7 },
  KEY_NOT_FOUND: { http: 404, grpc: 5 },
  /** The transparency log holds no such event, or no checkpoint of that size (yet). */
  NOT_IN_LOG: { http: 404, grpc: 5 },
  /** No anomaly finding of that id the caller may see. */
  FINDING_NOT_FOUND: { http: 404, grpc: 5 },
  KEY_ALREADY_EXISTS: { http: 409, grpc: 6 },
  INVALID_TRANSITION: { http: 409, grpc: 9 },
  CONCURRENCY_CONFLICT: { http: 409, grpc: 10 },
  /** The change is stored, but some live verifiers did not confirm applying it in time (`details.unconfirmed` names them). */
  VERIFIERS_UNCONFIRMED: { http: 504, grpc: 4 },
  /** The tenant holds as many live keys as it may (RESOURCE_EXHAUSTED): revoke one first. */
  TENANT_KEY_QUOTA_EXCEEDED: { http: 429, grpc: 8 },
  UNAVAILABLE: { http: 503, grpc: 14 },
  INTERNAL: { http: 500, grpc: 13 },
} as const satisfies Record<string, { http: number; grpc: number }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** A failure with a stable code, safe to show to the caller (no secrets, no internals). */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The body every transport sends for a failure. */
export interface ApiErrorBody {
  readonly error: { readonly code: ApiErrorCode; readonly message: string; readonly details?: Readonly<Record<string, unknown>> };
}
