import * as grpc from '@grpc/grpc-js';
import type { Deserialize, MethodDefinition, Options, PackageDefinition, Serialize, ServiceDefinition } from '@grpc/proto-loader';
import { loadSync } from '@grpc/proto-loader';
import { protoDir, protoPath } from '@keyledger/proto-paths';
import type { KeyledgerV1, ProtoName } from '@keyledger/contracts';

/**
 * The services' loader options, but without the oneof discriminators (`_name: 'name'` for
 * each set proto3 optional field), so responses compare as plain objects.
 */
export const GRPC_TEST_LOADER: Options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: false, includeDirs: [protoDir()] };

/** What a method of a generated service definition sends (its plain request type). */
type RequestOf<Method> = Method extends { requestSerialize: Serialize<infer Request> } ? Request : never;
/** What a method of a generated service definition reads (its response's `__Output` type). */
type ResponseOf<Method> = Method extends { responseDeserialize: Deserialize<infer Response> } ? Response : never;

/**
 * A client of one service of the API, loaded from the same proto files as the servers, typed by
 * the service's generated definition (e.g. `KeyledgerV1.KeyServiceDefinition`).
 */
export class GrpcApi<S> {
  private readonly client: grpc.Client;
  private readonly methods: ServiceDefinition;

  constructor(address: string, definition: PackageDefinition, service: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
    this.methods = definition[service] as ServiceDefinition;
  }

  call<M extends keyof S & string>(method: M, request: RequestOf<S[M]>, metadata = new grpc.Metadata()): Promise<ResponseOf<S[M]>> {
    const definition = this.methods[method] as MethodDefinition<RequestOf<S[M]>, unknown, unknown, ResponseOf<S[M]>> | undefined;
    if (!definition) throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        metadata,
        { deadline: Date.now() + 15_000 },
        (error, response) => (error ? reject(error) : resolve(response as ResponseOf<S[M]>)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The generated method types of each service of the API (package `keyledger.v1`). */
interface ApiServices {
  KeyService: KeyledgerV1.KeyServiceDefinition;
  VerifierService: KeyledgerV1.VerifierServiceDefinition;
  UsageService: KeyledgerV1.UsageServiceDefinition;
  AuditService: KeyledgerV1.AuditServiceDefinition;
}

/** The proto file declaring each service. */
const SERVICE_PROTOS = { KeyService: 'keys', VerifierService: 'verifier', UsageService: 'usage', AuditService: 'audit' } as const satisfies Record<
  keyof ApiServices,
  ProtoName
>;

/** A client of one of the API's services (`keyledger.v1.<service>`) at `host:port`. */
export function grpcClient<N extends keyof ApiServices>(address: string, service: N): GrpcApi<ApiServices[N]> {
  return new GrpcApi(address, loadSync(protoPath(SERVICE_PROTOS[service]), GRPC_TEST_LOADER), `keyledger.v1.${service}`);
}
