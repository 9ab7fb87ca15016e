import { hostname } from 'node:os';
import { loadKeyServiceConfig } from '@keyledger/config';
import { bootstrapService, grpcAddress, grpcApi } from '@keyledger/service-kit';
import { VerifierModule } from './verifier.module.js';

const DEFAULT_GRPC_PORT = 50052;

await bootstrapService({
  service: 'verifier',
  defaultPort: 3002,
  loadConfig: loadKeyServiceConfig,
  // keys.verify is served on the service's own connection (verify.nats-endpoint.ts), not through Nest's transport.
  natsApi: false,
  module: (context) => VerifierModule.forService(context),
  // keyledger.v1.VerifierService, with server reflection.
  microservices: ({ config }) => [grpcApi({ protos: ['verifier'], host: config.HTTP_HOST, port: config.GRPC_PORT ?? DEFAULT_GRPC_PORT })],
  endpoints: ({ config }) => ({ grpc: grpcAddress(config.HTTP_HOST === '0.0.0.0' ? hostname() : config.HTTP_HOST, config.GRPC_PORT ?? DEFAULT_GRPC_PORT) }),
  afterStart: (_app, { config, logger }) => {
    logger.info({ port: config.GRPC_PORT ?? DEFAULT_GRPC_PORT }, 'verifier gRPC API listening');
    return Promise.resolve();
  },
});
