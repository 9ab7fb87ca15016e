import { parseIp } from '@keyledger/key-domain';
import type { AnomalyFinding } from './anomaly-detector.js';
import { AnomalyDetector } from './anomaly-detector.js';
import { NetworkTable, NetworkTableError } from './network-table.js';

const lookup = (table: NetworkTable, ip: string) => table.lookup(parseIp(ip)!);

describe('NetworkTable', () => {
  const table = NetworkTable.parse(
    ['# provider ranges', '52.94.0.0/15,AS16509 amazon', '52.94.12.0/24, AS16509 eu-west-1 ', '', '2600:1f00::/24,AS16509 amazon', '10.1.2.3/8,private'].join('\n'),
  );

  it('names an address by the most specific range holding it', () => {
    expect(table.size).toBe(4);
    expect(lookup(table, '52.95.200.1')).toEqual({ name: 'AS16509 amazon', cidr: '52.94.0.0/15' });
    expect(lookup(table, '52.94.12.77')).toEqual({ name: 'AS16509 eu-west-1', cidr: '52.94.12.0/24' });
    expect(lookup(table, '2600:1f18::1')).toEqual({ name: 'AS16509 amazon', cidr: '2600:1f00::/24' });
    expect(lookup(table, '::ffff:52.94.12.1')).toMatchObject({ name: 'AS16509 eu-west-1' });
    expect(lookup(table, '10.200.0.1')).toEqual({ name: 'private', cidr: '10.0.0.0/8' });
    expect(lookup(table, '52.96.0.1')).toBeUndefined();
    expect(lookup(table, '2001:db8::1')).toBeUndefined();
  });

  it.each([
    ['52.94.0.0/15', /line 1: expected CIDR,name/],
    ['52.94.0.0,amazon', /line 1: not a CIDR range/],
    ['52.94.0.0/33,amazon', /line 1: not a CIDR range/],
    ['52.94.0.0/15,', /line 1: a name is/],
    ['52.94.0.0/15,10.0.0.0/8', /line 1: a name is .*no \//],
    ['52.94.0.0/15,a\n52.94.1.0/15,b', /line 2: 52.94.0.0\/15 is already named "a"/],
  ])('refuses %j, naming the line', (text, message) => {
    expect(() => NetworkTable.parse(text)).toThrow(NetworkTableError);
    expect(() => NetworkTable.parse(text)).toThrow(message);
  });
});

describe('new network with a network table', () => {
  const T0 = Date.UTC(2025, 0, 6);
  const table = NetworkTable.parse('100.64.0.0/16,AS64500 cloud');
  const observe = (detector: AnomalyDetector, at: number, ip: string): AnomalyFinding[] => {
    const findings: AnomalyFinding[] = [];
    detector.observe({ at, keyId: 'key_01jqaaaaaaaaaaaaaaaaaaaaaa', tenant: 'acme', ip, code: 'VALID', calls: 1 }, findings);
    return findings.filter((finding) => finding.detector === 'new-network');
  };
  /** A day of calls, each from another /24 of the provider's range: 60 /24s, more than a key may keep while it learns. */
  const roam = (detector: AnomalyDetector): AnomalyFinding[] =>
    Array.from({ length: 120 }, (_, n) => observe(detector, T0 + n * 12 * 60_000, `100.64.${n % 60}.9`)).flat();

  it('judges a key that roams over one provider by the provider, and finds a call from outside it', () => {
    let now = T0;
    const detector = new AnomalyDetector(() => now, undefined, table);
    expect(roam(detector)).toEqual([]);
    now = T0 + 25 * 3_600_000;
    expect(observe(detector, now, '100.64.200.1')).toEqual([]);
    const [finding] = observe(detector, now + 1000, '198.51.100.7');
    expect(finding).toMatchObject({ network: '198.51.100.0/24', evidence: { network: '198.51.100.0/24', known: 1 } });
    expect(finding!.detail).toBe('first call from 198.51.100.0/24; known: 100.64.0.0/16');
  });

  it('without the table, the same key roams and is not judged by network', () => {
    let now = T0;
    const detector = new AnomalyDetector(() => now);
    expect(roam(detector)).toEqual([]);
    now = T0 + 25 * 3_600_000;
    expect(observe(detector, now, '198.51.100.7')).toEqual([]);
  });

  it('alarms nobody when a table is added or renamed: a known /24 stays known under its new name', () => {
    let now = T0;
    const before = new AnomalyDetector(() => now);
    for (let n = 0; n < 120; n++) observe(before, T0 + n * 12 * 60_000, '100.64.7.9');
    const stored = JSON.parse(JSON.stringify(before.baseline('key_01jqaaaaaaaaaaaaaaaaaaaaaa'))) as Parameters<AnomalyDetector['restore']>[1];
    now = T0 + 25 * 3_600_000;
    // Started again with a table that names its range.
    const withTable = new AnomalyDetector(() => now, undefined, table);
    withTable.restore('key_01jqaaaaaaaaaaaaaaaaaaaaaa', stored);
    expect(observe(withTable, now, '100.64.7.10')).toEqual([]);
    // Another /24 of the same provider: the name was learned with the known /24.
    expect(observe(withTable, now + 1000, '100.64.99.1')).toEqual([]);
    // And the table renamed: the /24 is still known.
    const renamed = new AnomalyDetector(() => now, undefined, NetworkTable.parse('100.64.0.0/16,AS64501 renamed'));
    renamed.restore('key_01jqaaaaaaaaaaaaaaaaaaaaaa', withTable.baseline('key_01jqaaaaaaaaaaaaaaaaaaaaaa')!);
    expect(observe(renamed, now + 2000, '100.64.7.11')).toEqual([]);
  });

  it('keeps a network a key learned under the table when its entry is renamed', () => {
    let now = T0;
    const detector = new AnomalyDetector(() => now, undefined, table);
    expect(roam(detector)).toEqual([]);
    now = T0 + 25 * 3_600_000;
    const renamed = new AnomalyDetector(() => now, undefined, NetworkTable.parse('100.64.0.0/16,AS64500 renamed'));
    renamed.restore('key_01jqaaaaaaaaaaaaaaaaaaaaaa', detector.baseline('key_01jqaaaaaaaaaaaaaaaaaaaaaa')!);
    expect(observe(renamed, now, '100.64.7.9')).toEqual([]);
  });

  it('names the provider of a new named network in the finding', () => {
    let now = T0;
    const detector = new AnomalyDetector(() => now, undefined, table);
    for (let n = 0; n < 120; n++) observe(detector, T0 + n * 12 * 60_000, '198.51.100.7');
    now = T0 + 25 * 3_600_000;
    const [finding] = observe(detector, now, '100.64.3.4');
    expect(finding!.detail).toBe('first call from AS64500 cloud (100.64.3.0/24); known: 198.51.100.0/24');
    expect(finding!.evidence).toEqual({ network: '100.64.3.0/24', namedNetwork: 'AS64500 cloud', namedRange: '100.64.0.0/16', known: 1 });
  });
});
