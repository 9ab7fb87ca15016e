// The floor under the gRPC figures: a bare @grpc/grpc-js server of the verifier's proto, answering
// every Verify as the verifier answers a valid key and doing nothing else, in a process of its own.
// Prints its port.
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoDir, protoPath } from '@keyledger/proto-paths';
import { FLOOR_ANSWER } from './floor-answer.js';

// The verifier's loader options (libs/service-kit grpcApi).
const definition = loadSync(protoPath('verifier'), { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir()] });
const service = definition['keyledger.v1.VerifierService'] as grpc.ServiceDefinition;
const server = new grpc.Server();
server.addService(service, { Verify: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, FLOOR_ANSWER) });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${port}\n`);
});
