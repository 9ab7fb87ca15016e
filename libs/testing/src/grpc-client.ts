import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition, Options, PackageDefinition, ServiceDefinition } from '@grpc/proto-loader';
import { protoDir } from '@keyledger/proto-paths';

/**
 * The services' loader options, but without the oneof discriminators (`_name: 'name'` for
 * each set proto3 optional field), so responses compare as plain objects.
 */
export const GRPC_TEST_LOADER: Options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: false, includeDirs: [protoDir()] };

/** A client of one service of the API, loaded from the same proto files as the servers. */
export class GrpcApi {
  private readonly client: grpc.Client;
  private readonly methods: ServiceDefinition;

  constructor(address: string, definition: PackageDefinition, service: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
    this.methods = definition[service] as ServiceDefinition;
  }

  call<T>(method: string, request: object, metadata = new grpc.Metadata()): Promise<T> {
    const definition = this.methods[method] as MethodDefinition<object, T> | undefined;
    if (!definition) throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        metadata,
        { deadline: Date.now() + 15_000 },
        (error, response) => (error ? reject(error) : resolve(response as T)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
