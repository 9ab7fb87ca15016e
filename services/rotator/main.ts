import { loadRotatorConfig } from '@keyledger/config';
import { bootstrapService } from '@keyledger/service-kit';
import { RotatorModule } from './rotator.module.js';

// natsApi: acknowledgements of delivered keys arrive as requests (`<prefix>.v1.deliveries.ack`).
await bootstrapService({
  service: 'rotator',
  defaultPort: 3003,
  loadConfig: loadRotatorConfig,
  natsApi: true,
  module: (context) => RotatorModule.forService(context),
});
