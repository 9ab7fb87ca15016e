/**
 * The gRPC API's proto files, relative to libs/contracts/proto (package `keyledger.v1`);
 * `protoPath` in @keyledger/proto-paths finds them on disk. Each declares one service; the
 * messages several share (KeyView) are in keyledger/v1/key-view.proto, which they import.
 */
export const PROTO_FILES = {
  keys: 'keyledger/v1/keys.proto',
  verifier: 'keyledger/v1/verifier.proto',
  usage: 'keyledger/v1/usage.proto',
  audit: 'keyledger/v1/audit.proto',
} as const;

export type ProtoName = keyof typeof PROTO_FILES;

/** The proto package of the gRPC API. */
export const GRPC_PACKAGE = 'keyledger.v1';
