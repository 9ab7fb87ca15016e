import type { SiemRecord } from './siem-record.js';

/** The type verifications are exported under: the CEF signature id, the OCSF event code, the syslog MSGID. */
export const KEY_USED = 'KeyUsed';

/** One verification of a known key as the usage ledger stores it (a key named by its id only). */
export interface StoredVerification {
  /** `<batch id>:<seq>`: unique, and stable across deliveries. */
  readonly id: string;
  /** Its place in the ledger's export order: `<transaction id>:<batch id>:<seq>`. */
  readonly position: string;
  readonly at: string;
  readonly keyId: string;
  readonly tenant?: string;
  readonly ip?: string;
  readonly scopes: readonly string[];
  readonly code: string;
  readonly cost: number;
  readonly transport: string;
}

/**
 * A verification as API activity: the key is named by its id (the ledger never holds a
 * presented key), its outcome is the verify code. A refusal is `low`: one is routine, many are
 * what the anomaly detector reports as findings.
 */
export function siemRecordOfVerification(verification: StoredVerification): SiemRecord {
  return {
    eventId: verification.id,
    type: KEY_USED,
    recordClass: 'api-activity',
    severity: verification.code === 'VALID' ? 'info' : 'low',
    position: verification.position,
    occurredAt: verification.at,
    actor: `api-key:${verification.keyId}`,
    keyId: verification.keyId,
    outcome: verification.code,
    scopes: verification.scopes,
    transport: verification.transport,
    cost: verification.cost,
    ...(verification.tenant !== undefined && { tenant: verification.tenant }),
    ...(verification.ip !== undefined && { sourceAddress: verification.ip }),
  };
}
