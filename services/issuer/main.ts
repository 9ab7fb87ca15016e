import { loadKeyServiceConfig } from '@keyledger/config';
import { KeyManagement } from '@keyledger/key-management';
import { bootstrapService } from '@keyledger/service-kit';
import { IssuerModule } from './issuer.module.js';

await bootstrapService({
  service: 'issuer',
  defaultPort: 3001,
  loadConfig: loadKeyServiceConfig,
  natsApi: true,
  module: (context) => IssuerModule.forService(context),
  afterStart: async (app, { config, logger }) => {
    const bootstrapped = await app.get(KeyManagement).bootstrapRootKey(config.KEYLEDGER_BOOTSTRAP_ADMIN_KEY);
    if (!bootstrapped) return;
    logger.info({ keyId: bootstrapped.keyId }, 'root admin key created');
    // Printed once, to the terminal only (never through the logger): it is not stored anywhere.
    if (bootstrapped.generatedKey) process.stdout.write(`\nRoot admin key (shown once, store it now):\n  ${bootstrapped.generatedKey}\n\n`);
  },
});
