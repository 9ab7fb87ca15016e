import { InvalidArgumentError } from 'commander';
import { anomalyRuleEntry, formatAnomalyRule } from './incidents.command.js';

describe('--anomaly-rule', () => {
  it.each([
    ['probing:high=suspend', { detector: 'probing', minSeverity: 'high', action: 'suspend' }],
    ['high=suspend', { minSeverity: 'high', action: 'suspend' }],
    ['honeytoken=notify', { detector: 'honeytoken', action: 'notify' }],
    ['any=none', { action: 'none' }],
    ['any:critical=emergency-rotate', { minSeverity: 'critical', action: 'emergency-rotate' }],
  ])('reads %s, and writes it back the way it takes it', (text, rule) => {
    expect(anomalyRuleEntry(text)).toEqual([rule]);
    expect(anomalyRuleEntry(formatAnomalyRule(anomalyRuleEntry(text)[0]!))).toEqual([rule]);
  });

  it('keeps the rules in the order given', () => {
    expect(anomalyRuleEntry('medium=notify', anomalyRuleEntry('probing:high=suspend')).map(formatAnomalyRule)).toEqual([
      'probing:high=suspend',
      'medium=notify',
    ]);
  });

  it('refuses what is no rule and an unknown severity, leaving an unknown detector to the issuer that names those it knows', () => {
    for (const bad of ['probing', 'probing:high', '=suspend', 'probing:high:x=suspend', 'Probing=suspend'])
      expect(() => anomalyRuleEntry(bad)).toThrow(InvalidArgumentError);
    expect(() => anomalyRuleEntry('probing:urgent=suspend')).toThrow(/unknown severity "urgent"/);
    expect(anomalyRuleEntry('guessing=notify')).toEqual([{ detector: 'guessing', action: 'notify' }]);
  });
});
