import { hostname } from 'node:os';
import { loadIssuerConfig } from '@keyledger/config';
import { RootKeyBootstrap } from '@keyledger/key-commands';
import { bootstrapService, grpcAddress, grpcApi } from '@keyledger/service-kit';
import { IssuerModule } from './issuer.module.js';

const DEFAULT_GRPC_PORT = 50051;

await bootstrapService({
  service: 'issuer',
  defaultPort: 3001,
  loadConfig: loadIssuerConfig,
  natsApi: true,
  module: (context) => IssuerModule.forService(context),
  // keyledger.v1.KeyService, with server reflection.
  microservices: ({ config }) => [grpcApi({ protos: ['keys'], host: config.HTTP_HOST, port: config.GRPC_PORT ?? DEFAULT_GRPC_PORT })],
  endpoints: ({ config }) => ({ grpc: grpcAddress(config.HTTP_HOST === '0.0.0.0' ? hostname() : config.HTTP_HOST, config.GRPC_PORT ?? DEFAULT_GRPC_PORT) }),
  afterStart: async (app, { config, logger }) => {
    logger.info({ port: config.GRPC_PORT ?? DEFAULT_GRPC_PORT }, 'issuer gRPC API listening');
    const bootstrapped = await app.get(RootKeyBootstrap).run(config.KEYLEDGER_BOOTSTRAP_ADMIN_KEY);
    if (!bootstrapped) return;
    logger.info({ keyId: bootstrapped.keyId }, 'root admin key created');
    // Printed once, to the terminal only (never through the logger): it is not stored anywhere.
    if (bootstrapped.generatedKey) process.stdout.write(`\nRoot admin key (shown once, store it now):\n  ${bootstrapped.generatedKey}\n\n`);
  },
});
