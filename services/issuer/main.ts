import type { PackageDefinition } from '@grpc/proto-loader';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { Transport } from '@nestjs/microservices';
import { loadKeyServiceConfig } from '@keyledger/config';
import { GRPC_PACKAGE, protoDir, protoPath } from '@keyledger/contracts';
import { KeyManagement } from '@keyledger/key-management';
import { bootstrapService } from '@keyledger/service-kit';
import { IssuerModule } from './issuer.module.js';

const DEFAULT_GRPC_PORT = 50051;

await bootstrapService({
  service: 'issuer',
  defaultPort: 3001,
  loadConfig: loadKeyServiceConfig,
  natsApi: true,
  module: (context) => IssuerModule.forService(context),
  // keyledger.v1.KeyService, with server reflection (grpcurl, grpcui and the like).
  microservices: ({ config }) => [
    {
      transport: Transport.GRPC,
      options: {
        package: GRPC_PACKAGE,
        protoPath: [protoPath('keys')],
        url: `${config.HTTP_HOST.includes(':') ? `[${config.HTTP_HOST}]` : config.HTTP_HOST}:${config.GRPC_PORT ?? DEFAULT_GRPC_PORT}`,
        loader: { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir()] },
        onLoadPackageDefinition: (pkg: PackageDefinition, server: Pick<Server, 'addService'>) => new ReflectionService(pkg).addToServer(server),
        gracefulShutdown: true,
      },
    },
  ],
  afterStart: async (app, { config, logger }) => {
    logger.info({ port: config.GRPC_PORT ?? DEFAULT_GRPC_PORT }, 'issuer gRPC API listening');
    const bootstrapped = await app.get(KeyManagement).bootstrapRootKey(config.KEYLEDGER_BOOTSTRAP_ADMIN_KEY);
    if (!bootstrapped) return;
    logger.info({ keyId: bootstrapped.keyId }, 'root admin key created');
    // Printed once, to the terminal only (never through the logger): it is not stored anywhere.
    if (bootstrapped.generatedKey) process.stdout.write(`\nRoot admin key (shown once, store it now):\n  ${bootstrapped.generatedKey}\n\n`);
  },
});
