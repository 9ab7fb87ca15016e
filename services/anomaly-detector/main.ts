import { loadAnomalyDetectorConfig } from '@keyledger/config';
import { bootstrapService } from '@keyledger/service-kit';
import { AnomalyDetectorModule } from './anomaly-detector.module.js';

await bootstrapService({
  service: 'anomaly-detector',
  defaultPort: 3005,
  loadConfig: loadAnomalyDetectorConfig,
  module: (context) => AnomalyDetectorModule.forService(context),
});
