import type { ApiErrorBody, KeyView } from '@keyledger/contracts';

export type { ApiErrorBody, KeyView };

export interface InstanceStatusReply {
  readonly service: string;
  readonly instance: string;
  readonly ready: boolean;
  readonly endpoints: Readonly<Record<string, string>>;
}

export interface VerifyReply {
  readonly valid: boolean;
  readonly code: string;
  readonly keyId?: string;
  readonly tenant?: string;
  readonly owner?: string;
  readonly scopes?: readonly string[];
  readonly env?: string;
  readonly expiresAt?: string | null;
  readonly meta?: Readonly<Record<string, string>>;
}
