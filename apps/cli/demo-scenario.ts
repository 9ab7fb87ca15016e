/**
 * The attacks `keyledger demo` stages, what each should lead to, and the summary it prints: plain
 * data and functions, no I/O, so the tour and its test agree on what "seen" means.
 */

/** Addresses from the documentation ranges (RFC 5737, RFC 3849): never anyone's real network. */
export const DEMO_HOME_NETWORK = '198.51.100';

/**
 * The attacker's /48, one of 2001:db8::/32's 65,536, drawn per run: a source network is found
 * once per cool-down (an hour), so a demo run again within it must come from elsewhere.
 */
export function demoAttackerNetwork(random: number): { readonly cidr: string; address: (host: number) => string } {
  const word = (Math.floor(random * 0xffff) + 1).toString(16);
  return { cidr: `2001:db8:${word}::/48`, address: (host) => `2001:db8:${word}::${host.toString(16)}` };
}

export type DemoAttackName = 'retired key still in use' | 'honeytoken' | 'enumeration burst' | 'rate spike';

export interface DemoAttack {
  readonly name: DemoAttackName;
  /** The finding kind (AnomalyDetected `kind`) that names it; enumeration is a finding about a network, seen as its denial. */
  readonly kind: 'dead-key-use' | 'honeytoken' | 'usage-spike' | undefined;
  /** What the incident policy should have done, as the verifier shows it. */
  readonly effect: string;
}

export const DEMO_ATTACKS: Readonly<Record<DemoAttackName, DemoAttack>> = {
  'retired key still in use': { name: 'retired key still in use', kind: 'dead-key-use', effect: 'reported (the key is revoked already)' },
  honeytoken: { name: 'honeytoken', kind: 'honeytoken', effect: 'reported as critical; the caller was told NOT_FOUND' },
  'enumeration burst': { name: 'enumeration burst', kind: undefined, effect: "the attacker's network DENIED at the verifiers" },
  'rate spike': { name: 'rate spike', kind: 'usage-spike', effect: 'key suspended: DISABLED at the verifiers' },
};

/** One staged attack as it went: when it began, when it was detected, when its effect was seen. */
export interface DemoOutcome {
  readonly attack: DemoAttackName;
  readonly startedAt: number;
  detectedAt?: number;
  effectAt?: number;
}

export interface DemoSummaryRow {
  readonly attack: DemoAttackName;
  readonly detectedAfterMs: number | null;
  readonly effectAfterMs: number | null;
  readonly effect: string;
}

export function summarize(outcomes: readonly DemoOutcome[]): DemoSummaryRow[] {
  return outcomes.map((outcome) => ({
    attack: outcome.attack,
    detectedAfterMs: outcome.detectedAt === undefined ? null : outcome.detectedAt - outcome.startedAt,
    effectAfterMs: outcome.effectAt === undefined ? null : outcome.effectAt - outcome.startedAt,
    effect: DEMO_ATTACKS[outcome.attack].effect,
  }));
}

/** Every staged attack was detected and showed its effect. */
export function demoSucceeded(rows: readonly DemoSummaryRow[]): boolean {
  return rows.every((row) => row.detectedAfterMs !== null && row.effectAfterMs !== null);
}

/** `kl_live` of `kl_live_…`: the part of an issued key that makes a made-up one look like the installation's. */
export function keyPrefixOf(key: string): { prefix: string; env: string } | undefined {
  const match = /^([a-z][a-z0-9]{0,15})_(live|test)_/.exec(key);
  return match ? { prefix: match[1]!, env: match[2]! } : undefined;
}
