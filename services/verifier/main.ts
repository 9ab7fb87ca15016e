import { loadKeyServiceConfig } from '@keyledger/config';
import { bootstrapService } from '@keyledger/service-kit';
import { VerifierModule } from './verifier.module.js';

await bootstrapService({
  service: 'verifier',
  defaultPort: 3002,
  loadConfig: loadKeyServiceConfig,
  natsApi: true,
  module: (context) => VerifierModule.forService(context),
});
