import type { AnomalySettings } from '@keyledger/anomaly-detection';
import { DEFAULT_ANOMALY_SETTINGS, settingsForTenant } from '@keyledger/anomaly-detection';
import type { AnomalyDetectorEnv } from '@keyledger/config';
import { NO_ANOMALY_THRESHOLDS } from '@keyledger/contracts';

/**
 * The detectors' thresholds for the installation: the defaults, with each ANOMALY_* variable that
 * is set in its place, laid over them the way a tenant's thresholds are laid over these.
 */
export function anomalySettingsOf(config: AnomalyDetectorEnv): AnomalySettings {
  return settingsForTenant(DEFAULT_ANOMALY_SETTINGS, {
    ...NO_ANOMALY_THRESHOLDS,
    rateWindowMs: config.ANOMALY_RATE_WINDOW_MS ?? null,
    rateWarmupMs: config.ANOMALY_RATE_WARMUP_MS ?? null,
    rateFloor: config.ANOMALY_RATE_FLOOR ?? null,
    networkLearnMs: config.ANOMALY_NETWORK_LEARN_MS ?? null,
    networkMinCalls: config.ANOMALY_NETWORK_MIN_CALLS ?? null,
    dormantAfterMs: config.ANOMALY_DORMANT_AFTER_MS ?? null,
    cooldownMs: config.ANOMALY_COOLDOWN_MS ?? null,
  });
}
