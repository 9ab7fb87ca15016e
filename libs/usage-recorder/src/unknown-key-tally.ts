import type { KeyUsed, UsageTally } from '@keyledger/contracts';
import { USAGE_OTHER_SOURCES } from '@keyledger/contracts';

export interface UnknownKeyTallySettings {
  /** Distinct fingerprints (with the tenant asked for) kept per source and minute; beyond them a source's calls are counted without one. */
  readonly fingerprintsPerSource: number;
  /** Sources kept per minute; the calls of any further source are counted under USAGE_OTHER_SOURCES. */
  readonly sourcesPerMinute: number;
}

export const DEFAULT_UNKNOWN_KEY_TALLY_SETTINGS: UnknownKeyTallySettings = { fingerprintsPerSource: 5, sourcesPerMinute: 500 };

const MINUTE_MS = 60_000;
const NO_SOURCE = '';

/**
 * Counts the verifications of strings that named no key (records without a key id) instead of
 * keeping a record each: one tally per minute, source, fingerprint, tenant asked for, code and
 * transport. A flood of random keys would otherwise be a record, a stored row, per request. Per
 * minute it keeps at most `sourcesPerMinute` sources and, per source, `fingerprintsPerSource`
 * fingerprints: a further source is counted as USAGE_OTHER_SOURCES, a further fingerprint of a
 * source without fingerprint or tenant. So the tallies of a minute number at most
 * (sources + 1) × (fingerprints + 1) per code and transport, whatever comes, and so do the rows
 * the auditor stores for them. `drain` hands over the counts since the last drain; the choice of
 * sources and fingerprints holds for the whole minute, so the rows of a minute stay bounded over
 * many drains.
 */
export class UnknownKeyTally {
  private minute = Number.NEGATIVE_INFINITY;
  /** This minute's sources, each with the fingerprints (and tenants) it may still be counted under. */
  private readonly identities = new Map<string, Set<string>>();
  /** Counts since the last drain, by every field of the tally but `calls`. */
  private readonly counts = new Map<string, { tally: UsageTally; calls: number }>();

  constructor(private readonly settings: UnknownKeyTallySettings = DEFAULT_UNKNOWN_KEY_TALLY_SETTINGS) {}

  /** Counts one record that names no key (its `keyId` is undefined). */
  add(record: KeyUsed): void {
    const minute = record.at - (record.at % MINUTE_MS);
    if (minute > this.minute) {
      // A new minute: every source starts afresh. A late record keeps to the current choice.
      this.minute = minute;
      this.identities.clear();
    }
    let ip = record.ip;
    let fingerprint = record.fingerprint;
    let tenant = record.tenant;
    let known = this.identities.get(ip ?? NO_SOURCE);
    if (known === undefined) {
      if (this.identities.size < this.settings.sourcesPerMinute) this.identities.set(ip ?? NO_SOURCE, (known = new Set()));
      else ip = USAGE_OTHER_SOURCES;
    }
    const identity = `${fingerprint ?? ''} ${tenant ?? ''}`;
    if (known === undefined || (!known.has(identity) && known.size >= this.settings.fingerprintsPerSource)) {
      fingerprint = undefined;
      tenant = undefined;
    } else known.add(identity);
    const key = `${minute} ${record.code} ${record.transport} ${fingerprint ?? ''} ${tenant ?? ''} ${ip === undefined ? '-' : `+${ip}`}`;
    const counted = this.counts.get(key);
    if (counted !== undefined) counted.calls += 1;
    else {
      const tally: UsageTally = { minute, code: record.code, transport: record.transport, calls: 0 };
      if (fingerprint !== undefined) tally.fingerprint = fingerprint;
      if (tenant !== undefined) tally.tenant = tenant;
      if (ip !== undefined) tally.ip = ip;
      this.counts.set(key, { tally, calls: 1 });
    }
  }

  /** Tallies counted now. */
  get size(): number {
    return this.counts.size;
  }

  /** The tallies since the last drain, and counting starts again (the minute's choice of sources and fingerprints stays). */
  drain(): UsageTally[] {
    const tallies: UsageTally[] = [];
    for (const { tally, calls } of this.counts.values()) tallies.push({ ...tally, calls });
    this.counts.clear();
    return tallies;
  }
}
