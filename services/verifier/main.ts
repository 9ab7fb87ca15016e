import type { PackageDefinition } from '@grpc/proto-loader';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { Transport } from '@nestjs/microservices';
import { loadKeyServiceConfig } from '@keyledger/config';
import { GRPC_PACKAGE, protoDir, protoPath } from '@keyledger/contracts';
import { bootstrapService } from '@keyledger/service-kit';
import { VerifierModule } from './verifier.module.js';

const DEFAULT_GRPC_PORT = 50052;

await bootstrapService({
  service: 'verifier',
  defaultPort: 3002,
  loadConfig: loadKeyServiceConfig,
  natsApi: true,
  module: (context) => VerifierModule.forService(context),
  // keyledger.v1.VerifierService, with server reflection (grpcurl, grpcui and the like).
  microservices: ({ config }) => [
    {
      transport: Transport.GRPC,
      options: {
        package: GRPC_PACKAGE,
        protoPath: [protoPath('verifier')],
        url: `${config.HTTP_HOST.includes(':') ? `[${config.HTTP_HOST}]` : config.HTTP_HOST}:${config.GRPC_PORT ?? DEFAULT_GRPC_PORT}`,
        loader: { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir()] },
        onLoadPackageDefinition: (pkg: PackageDefinition, server: Pick<Server, 'addService'>) => new ReflectionService(pkg).addToServer(server),
        gracefulShutdown: true,
      },
    },
  ],
  afterStart: (_app, { config, logger }) => {
    logger.info({ port: config.GRPC_PORT ?? DEFAULT_GRPC_PORT }, 'verifier gRPC API listening');
    return Promise.resolve();
  },
});
