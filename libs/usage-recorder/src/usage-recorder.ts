import type { KeyUsed, UsageTransport, VerifyResult } from '@keyledger/contracts';
import { TENANT_ID_PATTERN, USAGE_LIMITS } from '@keyledger/contracts';
import type { KeyRecord, VerifyConditions } from '@keyledger/key-domain';
import type { KeyFingerprints } from '@keyledger/key-secrets';
import type { UsageBuffer } from './usage-buffer.js';

/**
 * Turns each verification into a KeyUsed record and hands it to the buffer. Runs on the
 * verify path, after the answer is known: no I/O, no waiting, a handful of field copies,
 * and a SipHash only for a string that named no key. The presented string itself is never
 * kept: a found key is recorded by id, anything else by its fingerprint.
 */
export class UsageRecorder {
  constructor(
    private readonly buffer: Pick<UsageBuffer, 'add'>,
    private readonly fingerprints: KeyFingerprints,
  ) {}

  /**
   * Records one verification answered at `at` (ms since the epoch). `cost` is the credits
   * charged (0 without quotas). `honeytoken` is the honeytoken presented (`VerifyCharge`): its
   * answer names no key, but its record names it, with the marker, for the anomaly detector.
   */
  record(
    presented: unknown,
    conditions: VerifyConditions,
    result: VerifyResult,
    transport: UsageTransport,
    at: number,
    cost = 0,
    honeytoken?: Pick<KeyRecord, 'keyId' | 'tenant'>,
  ): void {
    const keyId = honeytoken?.keyId ?? result.keyId;
    const asked = conditions.tenant;
    this.buffer.add({
      keyId,
      fingerprint: keyId === undefined ? this.fingerprints.of(presented) : undefined,
      // For a key that was not found, the tenant the caller asked for, if it is one.
      tenant: honeytoken?.tenant ?? result.tenant ?? (asked !== undefined && TENANT_ID_PATTERN.test(asked) ? asked : undefined),
      // Set on every record, undefined but for a honeytoken's: one shape for all (a spread would make two, and cost more).
      honeytoken: honeytoken ? true : undefined,
      at,
      ip: conditions.ip === undefined ? undefined : storable(conditions.ip, USAGE_LIMITS.ip),
      scopes: scopesOf(conditions.scopes),
      code: result.code,
      cost,
      transport,
    } satisfies KeyUsed);
  }
}

const NO_SCOPES: readonly string[] = Object.freeze([]);

/** The requested scopes within the record's limits; the request's own array when it fits. */
function scopesOf(scopes: readonly string[] | undefined): string[] {
  if (scopes === undefined || scopes.length === 0) return NO_SCOPES as string[];
  let fits = scopes.length <= USAGE_LIMITS.scopes;
  for (let i = 0; fits && i < scopes.length; i += 1) fits = storable(scopes[i]!, USAGE_LIMITS.scope) === scopes[i];
  if (fits) return scopes as string[];
  return scopes.slice(0, USAGE_LIMITS.scopes).map((scope) => storable(scope, USAGE_LIMITS.scope));
}

/** At most `max` characters and no NUL (Postgres text cannot hold one). */
function storable(value: string, max: number): string {
  const cut = value.length > max ? value.slice(0, max) : value;
  return cut.includes('\u0000') ? cut.replaceAll('\u0000', '\ufffd') : cut;
}
