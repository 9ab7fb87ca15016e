import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { AnomalyThresholdName, AnomalyThresholdsView } from '@keyledger/contracts';
import { ANOMALY_THRESHOLD_BOUNDS, ANOMALY_THRESHOLD_NAMES } from '@keyledger/contracts';
import { DEFAULT_ANOMALY_SETTINGS, thresholdsOf } from '@keyledger/anomaly-detection';
import type { WithClient } from './api-client.js';
import { graceOption } from './cli-options.js';
import { detailTable, print } from './output.js';
import { formatDuration } from './rotation-policy.command.js';

/** How each threshold is given on the command line: its flag, a duration or a count, and what it does. */
const OPTIONS: { readonly [N in AnomalyThresholdName]: { readonly flag: string; readonly unit: 'duration' | 'count'; readonly what: string } } = {
  rateWindowMs: {
    flag: 'rate-window',
    unit: 'duration',
    what: "rate spike: the window calls are counted in (a change makes the tenant's keys learn their rate afresh)",
  },
  rateWarmupMs: { flag: 'rate-warmup', unit: 'duration', what: "rate spike: a key's history before its rate is judged" },
  rateFloor: { flag: 'rate-floor', unit: 'count', what: 'rate spike: calls in a window below which a key never alarms' },
  networkLearnMs: { flag: 'network-learn', unit: 'duration', what: "new network: a key's history before its networks count as known" },
  networkMinCalls: { flag: 'network-min-calls', unit: 'count', what: 'new network: calls before its networks count as known' },
  probingFloor: { flag: 'probing-floor', unit: 'count', what: 'probing: calls refused for scope or address on one key in a minute' },
  dormantAfterMs: { flag: 'dormant-after', unit: 'duration', what: 'dormant key: time without a call after which a use is a finding' },
  cooldownMs: { flag: 'cooldown', unit: 'duration', what: 'after a finding, the same detector stays quiet on the same key this long' },
};

const BUILT_IN = thresholdsOf(DEFAULT_ANOMALY_SETTINGS);

function valueText(name: AnomalyThresholdName, value: number): string {
  return OPTIONS[name].unit === 'duration' && value !== 0 ? formatDuration(value, '') : String(value);
}

/** `--rate-floor 4`: a whole number. */
function countOption(text: string): number {
  if (!/^\d{1,9}$/.test(text.trim())) throw new InvalidArgumentError('expected a whole number');
  return Number(text);
}

function thresholdsText(view: AnomalyThresholdsView): string {
  const rows: Record<string, string> = { tenant: view.tenant };
  for (const name of ANOMALY_THRESHOLD_NAMES) {
    const value = view.thresholds[name];
    rows[OPTIONS[name].flag] = value === null ? 'installation default' : valueText(name, value);
  }
  return detailTable(rows);
}

/**
 * `keyledger anomalies thresholds set|get`: the anomaly detector's thresholds for one tenant's
 * keys. A threshold the tenant does not set is the installation's (the detector's ANOMALY_*
 * variables, else its built-in default).
 */
export function registerAnomalyThresholdsCommand(anomalies: Command, withClient: WithClient): void {
  const thresholds = anomalies
    .command('thresholds')
    .description("the anomaly detector's thresholds for one tenant's keys (a tenant admin for its own tenant, a root admin for any)");
  const set = thresholds
    .command('set')
    .description(
      "set the tenant's thresholds, replacing those set before; one left out is the installation's (ANOMALY_* of the anomaly detector, else the default shown). Applies within seconds; enumeration (a network across tenants) keeps the installation's",
    )
    .requiredOption('--tenant <tenant>');
  for (const name of ANOMALY_THRESHOLD_NAMES) {
    const { flag, unit, what } = OPTIONS[name];
    const { min, max } = ANOMALY_THRESHOLD_BOUNDS[name];
    set.option(
      `--${flag} <${unit === 'duration' ? 'duration' : 'n'}>`,
      `${what} (default ${valueText(name, BUILT_IN[name])}; ${valueText(name, min)} to ${valueText(name, max)})`,
      unit === 'duration' ? graceOption : countOption,
    );
  }
  set.action(
    withClient(async (client, options, command: Record<string, unknown>) => {
      const request: Partial<Record<AnomalyThresholdName, unknown>> = {};
      for (const name of ANOMALY_THRESHOLD_NAMES) {
        // commander names an option by its flag in camelCase.
        const value = command[OPTIONS[name].flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase())];
        if (value !== undefined) request[name] = value;
      }
      const view = await client.call<AnomalyThresholdsView>('anomaly-thresholds.set', { tenant: command['tenant'], thresholds: request });
      print(options.json, view, () => thresholdsText(view));
    }),
  );
  thresholds
    .command('get')
    .description("the tenant's thresholds (those not set are the installation's)")
    .requiredOption('--tenant <tenant>')
    .action(
      withClient(async (client, options, command: { tenant: string }) => {
        const view = await client.call<AnomalyThresholdsView>('anomaly-thresholds.get', { tenant: command.tenant });
        print(options.json, view, () => thresholdsText(view));
      }),
    );
}
