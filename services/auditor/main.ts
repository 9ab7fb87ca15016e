import { hostname } from 'node:os';
import { bootstrapService, grpcAddress, grpcApi } from '@keyledger/service-kit';
import { AuditorModule } from './auditor.module.js';
import { loadAuditorConfigWithWitnesses } from './audit-witnesses.js';

const DEFAULT_GRPC_PORT = 50054;

await bootstrapService({
  service: 'auditor',
  defaultPort: 3004,
  loadConfig: loadAuditorConfigWithWitnesses,
  natsApi: true,
  module: (context) => AuditorModule.forService(context),
  // keyledger.v1.UsageService and keyledger.v1.AuditService, with server reflection.
  microservices: ({ config }) => [grpcApi({ protos: ['usage', 'audit'], host: config.HTTP_HOST, port: config.GRPC_PORT ?? DEFAULT_GRPC_PORT })],
  endpoints: ({ config }) => ({ grpc: grpcAddress(config.HTTP_HOST === '0.0.0.0' ? hostname() : config.HTTP_HOST, config.GRPC_PORT ?? DEFAULT_GRPC_PORT) }),
});
