import type { ApiErrorBody, KeyView, VerifyResult } from '@keyledger/contracts';

export type { ApiErrorBody, KeyView, VerifyResult };

export interface InstanceStatusReply {
  readonly service: string;
  readonly instance: string;
  readonly ready: boolean;
  /** Absent from instances older than NATS authentication. */
  readonly bus?: 'authenticated' | 'unauthenticated';
  readonly endpoints: Readonly<Record<string, string>>;
}
