import type {
  AnomalyRule,
  AnomalyRuleSubject,
  AnomalySeverity,
  EffectiveIncidentPolicy,
  IncidentPolicyAction,
  IncidentType,
  KeyEvent,
} from '@keyledger/contracts';
import { ANOMALY_POLICY_ACTIONS, INCIDENT_TYPES, LEAK_POLICY_ACTIONS } from '@keyledger/contracts';
import type { KeyRecord } from './key-record.js';
import { evolveKey } from './key-record.js';
import type { IncidentKeyState, IncidentResponse, PolicyIncident } from './incident-response.js';
import { decideIncidentResponse, incidentEffects, incidentOutcome, isAdminKey, policyActionFor, sameLeakSource } from './incident-response.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const LATER = '2030-01-01T01:00:00.000Z';
const EARLIER = '2029-12-31T23:00:00.000Z';
const KEY_ID = 'key_01jdaaaaaaaaaaaaaaaaaaaaaa';
const REPLACEMENT = 'key_01jdbbbbbbbbbbbbbbbbbbbbbb';

const issued = (scopes: string[] = ['orders:read']): KeyRecord =>
  evolveKey(undefined, {
    type: 'KeyIssued',
    data: {
      keyId: KEY_ID,
      tenant: 'acme',
      owner: 'billing',
      environment: 'live',
      prefix: 'kl',
      digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
      hint: 'kl_live_…abcd',
      scopes,
      ipAllowlist: [],
      metadata: {},
    },
  })!;
const after = (record: KeyRecord, ...events: KeyEvent[]): KeyRecord => events.reduce<KeyRecord | undefined>(evolveKey, record)!;
const rotated = (graceEndsAt: string): KeyEvent => ({ type: 'KeyRotated', data: { keyId: KEY_ID, replacedBy: REPLACEMENT, graceEndsAt } });

/** Every state an incident can find a key in. */
const STATES = {
  active: { record: issued(), replacementIssued: false },
  suspended: { record: after(issued(), { type: 'KeySuspended', data: { keyId: KEY_ID } }), replacementIssued: false },
  revoked: { record: after(issued(), { type: 'KeyRevoked', data: { keyId: KEY_ID, reason: 'x' } }), replacementIssued: false },
  expired: { record: after(issued(), { type: 'KeyUpdated', data: { keyId: KEY_ID, expiresAt: EARLIER } }), replacementIssued: false },
  'rotated, in its grace': { record: after(issued(), rotated(LATER)), replacementIssued: true },
  'rotated, past its grace': { record: after(issued(), rotated(EARLIER)), replacementIssued: true },
  'rotation interrupted': { record: after(issued(), rotated(LATER)), replacementIssued: false },
  'rotation interrupted, past its grace': { record: after(issued(), rotated(EARLIER)), replacementIssued: false },
  'emergency rotation interrupted': {
    record: after(
      issued(),
      { type: 'KeyRotated', data: { keyId: KEY_ID, replacedBy: REPLACEMENT, graceEndsAt: EARLIER, emergency: true } },
      { type: 'KeyRevoked', data: { keyId: KEY_ID, reason: 'emergency rotation' } },
    ),
    replacementIssued: false,
  },
  'rotated and suspended': { record: after(issued(), rotated(LATER), { type: 'KeySuspended', data: { keyId: KEY_ID } }), replacementIssued: true },
  'an admin key': { record: issued(['keyledger:keys:read']), replacementIssued: false },
} satisfies Record<string, IncidentKeyState>;

const GRACE = 600_000;
const none = (reason?: string): IncidentResponse => (reason ? ({ action: 'none', reason } as IncidentResponse) : { action: 'none' });
const notify = (reason?: string): IncidentResponse => (reason ? ({ action: 'notify', reason } as IncidentResponse) : { action: 'notify' });
const rotate: IncidentResponse = { action: 'rotate', graceMs: GRACE };

/** What each policy action does in each state: the whole table, for leaks and anomalies alike. */
const EXPECTED: Record<keyof typeof STATES, Record<IncidentPolicyAction, IncidentResponse>> = {
  active: { none: none(), notify: notify(), suspend: { action: 'suspend' }, rotate, 'emergency-rotate': { action: 'emergency-rotate' } },
  suspended: { none: none(), notify: notify(), suspend: notify('already-suspended'), rotate, 'emergency-rotate': { action: 'emergency-rotate' } },
  revoked: {
    none: none('key-revoked'),
    notify: none('key-revoked'),
    suspend: none('key-revoked'),
    rotate: none('key-revoked'),
    'emergency-rotate': none('key-revoked'),
  },
  expired: {
    none: none('key-expired'),
    notify: none('key-expired'),
    suspend: none('key-expired'),
    rotate: none('key-expired'),
    'emergency-rotate': none('key-expired'),
  },
  'rotated, in its grace': {
    none: none(),
    notify: notify(),
    suspend: { action: 'suspend' },
    rotate: notify('already-rotated'),
    'emergency-rotate': { action: 'revoke' },
  },
  'rotated, past its grace': {
    none: none('key-expired'),
    notify: none('key-expired'),
    suspend: none('key-expired'),
    rotate: none('key-expired'),
    'emergency-rotate': none('key-expired'),
  },
  'rotation interrupted': { none: none(), notify: notify(), suspend: { action: 'suspend' }, rotate, 'emergency-rotate': { action: 'emergency-rotate' } },
  // The old key has stopped, but its replacement must still be issued.
  'rotation interrupted, past its grace': {
    none: none('key-expired'),
    notify: none('key-expired'),
    suspend: none('key-expired'),
    rotate,
    'emergency-rotate': { action: 'emergency-rotate' },
  },
  'emergency rotation interrupted': {
    none: none('key-revoked'),
    notify: none('key-revoked'),
    suspend: none('key-revoked'),
    rotate: { action: 'emergency-rotate' },
    'emergency-rotate': { action: 'emergency-rotate' },
  },
  'rotated and suspended': {
    none: none(),
    notify: notify(),
    suspend: notify('already-suspended'),
    rotate: notify('already-rotated'),
    'emergency-rotate': { action: 'revoke' },
  },
  'an admin key': { none: none(), notify: notify(), suspend: notify('admin-key'), rotate: notify('admin-key'), 'emergency-rotate': notify('admin-key') },
};

const NETWORK_DEFAULTS = { onEnumeration: 'notify', denyForMs: 3_600_000, anomalyRules: [] } as const;

/** An incident of each type as the policy sees it (an anomaly: a probing finding, high). */
const incidentOf = (type: IncidentType): PolicyIncident => (type === 'KeyLeakReported' ? { type } : { type, detector: 'probing', severity: 'high' });

describe('the response to an incident', () => {
  for (const incident of INCIDENT_TYPES) {
    const actions = incident === 'KeyLeakReported' ? LEAK_POLICY_ACTIONS : ANOMALY_POLICY_ACTIONS;
    for (const [state, key] of Object.entries(STATES) as [keyof typeof STATES, IncidentKeyState][]) {
      for (const asked of actions) {
        it(`${incident}, policy ${asked}, ${state} key: ${JSON.stringify(EXPECTED[state][asked])}`, () => {
          const policy: EffectiveIncidentPolicy =
            incident === 'KeyLeakReported'
              ? { onLeak: asked as Exclude<IncidentPolicyAction, 'none'>, onAnomaly: 'none', graceMs: GRACE, ...NETWORK_DEFAULTS }
              : { onLeak: 'notify', onAnomaly: asked, graceMs: GRACE, ...NETWORK_DEFAULTS };
          expect(decideIncidentResponse(incidentOf(incident), policy, key, NOW)).toEqual(EXPECTED[state][asked]);
        });
      }
    }
  }

  it('only notifies an incident on a honeytoken, whatever the policy asks and whatever state the honeytoken is in', () => {
    for (const { record, replacementIssued } of Object.values(STATES))
      for (const incident of INCIDENT_TYPES)
        for (const asked of LEAK_POLICY_ACTIONS) {
          const policy: EffectiveIncidentPolicy = { onLeak: asked, onAnomaly: asked, graceMs: GRACE, ...NETWORK_DEFAULTS };
          const honeytoken = { record: { ...record, honeytoken: true as const }, replacementIssued };
          expect(decideIncidentResponse(incidentOf(incident), policy, honeytoken, NOW)).toEqual({ action: 'notify', reason: 'honeytoken' });
        }
    expect(
      decideIncidentResponse(
        { type: 'AnomalyDetected', detector: 'honeytoken', severity: 'critical' },
        { onLeak: 'notify', onAnomaly: 'none', graceMs: GRACE, ...NETWORK_DEFAULTS, anomalyRules: [{ detector: 'honeytoken', action: 'rotate' }] },
        { record: { ...issued(), honeytoken: true }, replacementIssued: false },
        NOW,
      ),
    ).toEqual({
      action: 'notify',
      reason: 'honeytoken',
    });
  });

  it('reads the leak setting for leaks and the anomaly setting for anomalies', () => {
    const policy: EffectiveIncidentPolicy = { onLeak: 'emergency-rotate', onAnomaly: 'suspend', graceMs: 0, ...NETWORK_DEFAULTS };
    expect(policyActionFor({ type: 'KeyLeakReported' }, policy)).toBe('emergency-rotate');
    expect(policyActionFor({ type: 'AnomalyDetected', detector: 'probing', severity: 'critical' }, policy)).toBe('suspend');
  });

  describe('anomaly rules by detector and severity', () => {
    const RULES: AnomalyRule[] = [
      { detector: 'honeytoken', action: 'emergency-rotate' },
      { detector: 'probing', minSeverity: 'critical', action: 'emergency-rotate' },
      { detector: 'probing', minSeverity: 'high', action: 'suspend' },
      { detector: 'new-network', action: 'none' },
      { minSeverity: 'high', action: 'rotate' },
      { minSeverity: 'medium', action: 'notify' },
    ];
    const policy: EffectiveIncidentPolicy = { onLeak: 'notify', onAnomaly: 'none', graceMs: GRACE, ...NETWORK_DEFAULTS, anomalyRules: RULES };
    const CASES: [AnomalyRuleSubject['detector'], AnomalySeverity, IncidentPolicyAction][] = [
      ['probing', 'low', 'none'], // below every rule that names it or any detector: onAnomaly
      ['probing', 'medium', 'notify'],
      ['probing', 'high', 'suspend'],
      ['probing', 'critical', 'emergency-rotate'],
      ['honeytoken', 'low', 'emergency-rotate'], // a rule without a severity takes every severity
      ['new-network', 'critical', 'none'], // its own rule comes before the severity rules
      ['rate-spike', 'high', 'rotate'],
      ['rate-spike', 'medium', 'notify'],
      ['off-hours', 'low', 'none'],
      [undefined, 'critical', 'rotate'], // an operator's report: only rules for any detector
      [undefined, 'low', 'none'],
    ];
    for (const [detector, severity, expected] of CASES)
      it(`${detector ?? "an operator's report"} at ${severity}: ${expected}`, () => {
        expect(policyActionFor({ type: 'AnomalyDetected', detector, severity }, policy)).toBe(expected);
      });

    it('asks onAnomaly when no rule is set, and never applies them to a leak', () => {
      expect(
        policyActionFor({ type: 'AnomalyDetected', detector: 'probing', severity: 'critical' }, { ...policy, anomalyRules: [], onAnomaly: 'suspend' }),
      ).toBe('suspend');
      expect(policyActionFor({ type: 'KeyLeakReported' }, policy)).toBe('notify');
    });

    it('acts on the rule: a medium finding under medium=notify is notified, a high one under high=suspend suspends', () => {
      const rules: EffectiveIncidentPolicy = {
        ...policy,
        anomalyRules: [
          { minSeverity: 'high', action: 'suspend' },
          { minSeverity: 'medium', action: 'notify' },
        ],
      };
      const key = STATES.active;
      expect(decideIncidentResponse({ type: 'AnomalyDetected', detector: 'probing', severity: 'medium' }, rules, key, NOW)).toEqual({ action: 'notify' });
      expect(decideIncidentResponse({ type: 'AnomalyDetected', detector: 'probing', severity: 'high' }, rules, key, NOW)).toEqual({ action: 'suspend' });
    });

    it('keeps the admin-key and honeytoken protections whatever a rule asks', () => {
      const suspendAll: EffectiveIncidentPolicy = { ...policy, anomalyRules: [{ action: 'suspend' }] };
      const finding: PolicyIncident = { type: 'AnomalyDetected', detector: 'rate-spike', severity: 'critical' };
      expect(decideIncidentResponse(finding, suspendAll, STATES['an admin key'], NOW)).toEqual({ action: 'notify', reason: 'admin-key' });
      expect(decideIncidentResponse(finding, suspendAll, { ...STATES.active, record: { ...STATES.active.record, honeytoken: true } }, NOW)).toEqual({
        action: 'notify',
        reason: 'honeytoken',
      });
    });
  });

  it('treats any key holding a scope of the admin plane as an admin key', () => {
    expect(isAdminKey({ scopes: ['orders:read', 'keyledger:leaks:report'] })).toBe(true);
    expect(isAdminKey({ scopes: ['keyledger:*'] })).toBe(true);
    expect(isAdminKey({ scopes: ['orders:*', 'keyledgers:x'] })).toBe(false);
  });
});

describe('what an incident did', () => {
  const INCIDENT = '0190f4c6-0000-7000-8000-000000000001';
  const OTHER = '0190f4c6-0000-7000-8000-000000000002';
  const rotation = { keyId: KEY_ID, replacedBy: REPLACEMENT, graceEndsAt: LATER };

  it('records the rotation the incident caused, even when the decision now says the key is already rotated', () => {
    const effects = incidentEffects(
      [
        { type: 'KeyLeakReported', data: {}, causationId: 'corr' },
        { type: 'KeyRotated', data: rotation, causationId: INCIDENT },
      ],
      INCIDENT,
    );
    expect(incidentOutcome('rotate', { action: 'notify', reason: 'already-rotated' }, effects)).toEqual({
      policy: 'rotate',
      action: 'rotate',
      replacedBy: REPLACEMENT,
      graceEndsAt: LATER,
    });
  });

  it('tells an emergency rotation, a revocation and a suspension apart', () => {
    const emergency = incidentEffects(
      [
        { type: 'KeyRotated', data: { ...rotation, graceEndsAt: EARLIER, emergency: true }, causationId: INCIDENT },
        { type: 'KeyRevoked', data: { keyId: KEY_ID, reason: 'emergency rotation' }, causationId: INCIDENT },
      ],
      INCIDENT,
    );
    expect(incidentOutcome('emergency-rotate', { action: 'emergency-rotate' }, emergency)).toEqual({
      policy: 'emergency-rotate',
      action: 'emergency-rotate',
      replacedBy: REPLACEMENT,
    });
    const revoked = incidentEffects([{ type: 'KeyRevoked', data: {}, causationId: INCIDENT }], INCIDENT);
    expect(incidentOutcome('emergency-rotate', { action: 'none', reason: 'key-revoked' }, revoked)).toEqual({ policy: 'emergency-rotate', action: 'revoke' });
    const suspended = incidentEffects([{ type: 'KeySuspended', data: {}, causationId: INCIDENT }], INCIDENT);
    expect(incidentOutcome('suspend', { action: 'notify', reason: 'already-suspended' }, suspended)).toEqual({ policy: 'suspend', action: 'suspend' });
  });

  it('ignores what other commands did, and records the decision when the incident changed nothing', () => {
    const effects = incidentEffects(
      [
        { type: 'KeyRotated', data: rotation, causationId: OTHER },
        { type: 'KeySuspended', data: {}, causationId: OTHER },
      ],
      INCIDENT,
    );
    expect(effects).toEqual({ rotation: undefined, revoked: false, suspended: false });
    expect(incidentOutcome('rotate', { action: 'notify', reason: 'already-rotated' }, effects)).toEqual({
      policy: 'rotate',
      action: 'notify',
      reason: 'already-rotated',
    });
    expect(incidentOutcome('none', { action: 'none' }, effects)).toEqual({ policy: 'none', action: 'none' });
  });
});

describe('leak sources', () => {
  it('are the same place only when every field is equal', () => {
    const source = { file: 'config.env', line: 2, column: 9, commit: 'abc1234', repository: 'acme/app' };
    expect(sameLeakSource(source, { ...source })).toBe(true);
    expect(sameLeakSource(source, { ...source, line: 3 })).toBe(false);
    expect(sameLeakSource(source, { file: 'config.env', line: 2, column: 9, repository: 'acme/app' })).toBe(false);
    expect(sameLeakSource({ description: 'pasted in chat' }, { description: 'pasted in chat' })).toBe(true);
  });
});
