import { DEFAULT_ANOMALY_SETTINGS } from '@keyledger/anomaly-detection';
import type { AnomalyDetectorEnv } from '@keyledger/config';
import { anomalySettingsOf } from './anomaly-settings.config.js';

describe('the installation’s anomaly thresholds', () => {
  it('are the defaults where no ANOMALY_* variable is set, and each variable set where it is', () => {
    expect(anomalySettingsOf({} as AnomalyDetectorEnv)).toEqual(DEFAULT_ANOMALY_SETTINGS);
    const settings = anomalySettingsOf({ ANOMALY_RATE_FLOOR: 40, ANOMALY_COOLDOWN_MS: 60_000, ANOMALY_NETWORK_LEARN_MS: 0 } as AnomalyDetectorEnv);
    expect(settings).toEqual({
      ...DEFAULT_ANOMALY_SETTINGS,
      rate: { ...DEFAULT_ANOMALY_SETTINGS.rate, floor: 40 },
      network: { ...DEFAULT_ANOMALY_SETTINGS.network, learnMs: 0 },
      cooldownMs: 60_000,
    });
  });
});
