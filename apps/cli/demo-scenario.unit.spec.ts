import { demoAttackerNetwork, demoSucceeded, keyPrefixOf, summarize } from './demo-scenario.js';

describe('the demo scenario', () => {
  it('draws the attacker from a /48 of the IPv6 documentation range', () => {
    expect(demoAttackerNetwork(0).cidr).toBe('2001:db8:1::/48');
    const network = demoAttackerNetwork(0.5);
    expect(network.cidr).toBe('2001:db8:8000::/48');
    expect(network.address(0x29)).toBe('2001:db8:8000::29');
    expect(demoAttackerNetwork(0.999999).cidr).toBe('2001:db8:ffff::/48');
  });

  it('sums up each attack, and succeeds only when each was both detected and acted on', () => {
    const rows = summarize([
      { attack: 'honeytoken', startedAt: 1000, detectedAt: 2500, effectAt: 1100 },
      { attack: 'enumeration burst', startedAt: 3000, detectedAt: 9000 },
    ]);
    expect(rows).toEqual([
      { attack: 'honeytoken', detectedAfterMs: 1500, effectAfterMs: 100, effect: 'reported as critical; the caller was told NOT_FOUND' },
      { attack: 'enumeration burst', detectedAfterMs: 6000, effectAfterMs: null, effect: "the attacker's network DENIED at the verifiers" },
    ]);
    expect(demoSucceeded(rows)).toBe(false);
    expect(demoSucceeded(rows.slice(0, 1))).toBe(true);
  });

  it('reads the prefix and environment of an issued key', () => {
    expect(keyPrefixOf('kl_live_abc')).toEqual({ prefix: 'kl', env: 'live' });
    expect(keyPrefixOf('acme2_test_abc')).toEqual({ prefix: 'acme2', env: 'test' });
    expect(keyPrefixOf('not a key')).toBeUndefined();
  });
});
