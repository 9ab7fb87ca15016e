// Original file: libs/contracts/proto/keyledger/v1/audit.proto


export interface PermissionFinding {
  /**
   * "unused-key", "unused-scopes", "no-expiry", "rotation-overdue", "no-ip-restriction",
   * "stale-suspension" or "broad-admin".
   */
  'kind'?: (string);
  'keyId'?: (string);
  'tenant'?: (string);
  'owner'?: (string);
  /**
   * The evidence in words, for a person.
   */
  'summary'?: (string);
  /**
   * What the finding rests on, as a JSON object (instants, counts, scopes; per kind, as over NATS).
   */
  'evidenceJson'?: (string);
}

export interface PermissionFinding__Output {
  /**
   * "unused-key", "unused-scopes", "no-expiry", "rotation-overdue", "no-ip-restriction",
   * "stale-suspension" or "broad-admin".
   */
  'kind': (string);
  'keyId': (string);
  'tenant': (string);
  'owner': (string);
  /**
   * The evidence in words, for a person.
   */
  'summary': (string);
  /**
   * What the finding rests on, as a JSON object (instants, counts, scopes; per kind, as over NATS).
   */
  'evidenceJson': (string);
}
