import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition, ServiceDefinition } from '@grpc/proto-loader';
import { loadSync } from '@grpc/proto-loader';
import { GRPC_TEST_LOADER } from './grpc-client.js';

/** A response of the reflection service of grpc/reflection (its own proto, not one of the API). */
export interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] } | null;
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] } | null;
  errorResponse?: { errorCode: number; errorMessage: string } | null;
}

const reflectionProtos = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build', 'proto');

/** One request over the bidirectional reflection stream of the server at `address`, as grpcurl sends it. */
export async function reflect(address: string, version: 'v1' | 'v1alpha', request: object): Promise<ReflectionResponse[]> {
  const definition = loadSync(`grpc/reflection/${version}/reflection.proto`, { ...GRPC_TEST_LOADER, includeDirs: [reflectionProtos] });
  const method = (definition[`grpc.reflection.${version}.ServerReflection`] as ServiceDefinition)['ServerReflectionInfo'] as MethodDefinition<
    object,
    ReflectionResponse
  >;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    const stream = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new grpc.Metadata(), {
      deadline: Date.now() + 10_000,
    });
    const responses: ReflectionResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (response: ReflectionResponse) => responses.push(response));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write(request);
    stream.end();
    await done;
    return responses;
  } finally {
    client.close();
  }
}

/** The services the server at `address` lists by reflection. */
export async function reflectedServices(address: string, version: 'v1' | 'v1alpha'): Promise<string[]> {
  return (await reflect(address, version, { listServices: '' })).flatMap(
    (response) => response.listServicesResponse?.service.map((service) => service.name) ?? [],
  );
}

/** The error of a gRPC call that must fail. */
export async function grpcFailure(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}
