import type { PackageDefinition } from '@grpc/proto-loader';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { Transport } from '@nestjs/microservices';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { GRPC_PACKAGE } from '@keyledger/contracts';
import { protoDir, protoPath } from '@keyledger/proto-paths';

export interface GrpcApiOptions {
  /** The proto files of the services it serves (names of PROTO_FILES, e.g. `keys`). */
  readonly protos: readonly Parameters<typeof protoPath>[0][];
  readonly host: string;
  readonly port: number;
}

/** The address a gRPC API binds, with IPv6 hosts in brackets. */
export function grpcAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * A service's gRPC API as a Nest microservice: the `keyledger.v1` services of the contracts'
 * proto files it names (one server, one port), with server reflection so grpcurl, grpcui and the like discover it.
 */
export function grpcApi(options: GrpcApiOptions): MicroserviceOptions {
  return {
    transport: Transport.GRPC,
    options: {
      package: GRPC_PACKAGE,
      protoPath: options.protos.map(protoPath),
      url: grpcAddress(options.host, options.port),
      // tools/generate-grpc-types.mjs generates the message types (KeyledgerV1 of @keyledger/contracts) for these options: change both together.
      loader: { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir()] },
      onLoadPackageDefinition: (pkg: PackageDefinition, server: Pick<Server, 'addService'>) => new ReflectionService(pkg).addToServer(server),
      gracefulShutdown: true,
    },
  };
}
