import type { AnomalySettings } from '@keyledger/anomaly-detection';
import { DEFAULT_ANOMALY_SETTINGS } from '@keyledger/anomaly-detection';
import type { AnomalyDetectorEnv } from '@keyledger/config';

/** The detectors' thresholds: the defaults, with each ANOMALY_* variable that is set in its place. */
export function anomalySettingsOf(config: AnomalyDetectorEnv): AnomalySettings {
  const defaults = DEFAULT_ANOMALY_SETTINGS;
  return {
    ...defaults,
    rate: {
      ...defaults.rate,
      windowMs: config.ANOMALY_RATE_WINDOW_MS ?? defaults.rate.windowMs,
      warmupMs: config.ANOMALY_RATE_WARMUP_MS ?? defaults.rate.warmupMs,
      floor: config.ANOMALY_RATE_FLOOR ?? defaults.rate.floor,
    },
    network: {
      ...defaults.network,
      learnMs: config.ANOMALY_NETWORK_LEARN_MS ?? defaults.network.learnMs,
      minCalls: config.ANOMALY_NETWORK_MIN_CALLS ?? defaults.network.minCalls,
    },
    dormantAfterMs: config.ANOMALY_DORMANT_AFTER_MS ?? defaults.dormantAfterMs,
    cooldownMs: config.ANOMALY_COOLDOWN_MS ?? defaults.cooldownMs,
  };
}
