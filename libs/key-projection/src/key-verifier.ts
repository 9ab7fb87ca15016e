import type { VerifyResult } from '@keyledger/contracts';
import type { KeyRecord, KeyState, VerifyCharge, VerifyConditions } from '@keyledger/key-domain';
import { decideVerification } from '@keyledger/key-domain';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyIndex } from './key-index.js';
import type { KeyLimits } from './key-limits.js';
import type { LiveKeyProjection } from './live-key-projection.js';

export interface KeyVerifierOptions {
  /** The projection that fills the index: while it fails closed, every answer is UNAVAILABLE. */
  readonly projection?: Pick<LiveKeyProjection, 'isFailingClosed'>;
  /** Rate limits and quotas shared with the other verifiers; without them, keys are not limited. */
  readonly limits?: Pick<KeyLimits, 'assess' | 'remaining' | 'take'>;
  /**
   * Refuse callers from the networks the index holds as denied (DENIED). Off for the admin
   * plane: an operator must be able to lift a denial from the network it covers.
   */
  readonly networkDenials?: boolean;
}

/**
 * Verifies presented keys against the in-memory index: gathers what `decideVerification`
 * (libs/key-domain) reads (the keys, found by digest under each pepper; the projection's
 * fail-closed state; the shared limits), and takes from the limits the use it admits.
 */
export class KeyVerifier implements KeyState {
  /** The charge of a verification whose caller does not keep it. */
  private readonly charge: VerifyCharge = { take: false, credits: 0 };
  private readonly projection: KeyVerifierOptions['projection'];
  private readonly limits: KeyVerifierOptions['limits'];
  /** Set only with `networkDenials`: without it, decideVerification looks at no denial. */
  readonly isDenied?: (ip: string, tenant: string | undefined, now: number) => boolean;

  constructor(
    private readonly index: KeyIndex,
    private readonly hasher: KeyHasher,
    options: KeyVerifierOptions = {},
  ) {
    this.projection = options.projection;
    this.limits = options.limits;
    if (options.networkDenials) this.isDenied = (ip, tenant, now) => this.index.networkDenials.denies(ip, tenant, now);
  }

  /**
   * Verifies a key at `now` (ms), taking the use from the limits when they admit it; writes
   * into `charge` the credits it cost (`cost` for a valid key with a quota), to record with it.
   */
  verify(presented: unknown, conditions: VerifyConditions, now: number, cost = 1, charge: VerifyCharge = this.charge): VerifyResult {
    const result = decideVerification(this, presented, conditions, cost, this.limits, now, charge);
    if (charge.take) this.limits?.take();
    return result;
  }

  isFailingClosed(now: number): boolean {
    return this.projection?.isFailingClosed(now) ?? false;
  }

  find(plaintext: string): KeyRecord | undefined {
    return findKey(this.index, this.hasher, plaintext);
  }
}

/**
 * Verifies one key against the index with neither limits nor fail-closed (as admin
 * authentication does); a verifier serving many uses keeps a KeyVerifier.
 */
export function verifyKey(index: KeyIndex, hasher: KeyHasher, presented: unknown, conditions: VerifyConditions, now: number): VerifyResult {
  return new KeyVerifier(index, hasher).verify(presented, conditions, now);
}

/** The presented key's digest, reused: findByDigest only reads it. */
const presentedDigest = new Uint8Array(32);

/** The key a presented (well-formed) plaintext is, under any configured pepper, newest first. */
export function findKey(index: KeyIndex, hasher: KeyHasher, presented: string): KeyRecord | undefined {
  const versions = hasher.pepperVersions;
  for (let rank = 0; rank < versions.length; rank += 1) {
    hasher.digestInto(presented, rank, presentedDigest);
    const record = index.findByDigest(presentedDigest, versions[rank]!);
    if (record) return record;
  }
  return undefined;
}
