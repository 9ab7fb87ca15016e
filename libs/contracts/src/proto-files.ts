// The contracts' one use of Node: locating the .proto files they ship. The build compiles
// only TypeScript into dist/, so the files stay in libs/contracts/proto in every layout.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The gRPC API's proto files, relative to the proto directory (package `keyledger.v1`). */
export const PROTO_FILES = {
  keys: 'keyledger/v1/keys.proto',
  verifier: 'keyledger/v1/verifier.proto',
  usage: 'keyledger/v1/usage.proto',
} as const;

export type ProtoName = keyof typeof PROTO_FILES;

/** The proto package of the gRPC API. */
export const GRPC_PACKAGE = 'keyledger.v1';

const PROTO_DIR = join('libs', 'contracts', 'proto');
let resolved: string | undefined;

/**
 * The directory holding the proto files (the include directory for imports), found by
 * walking up from this module to the repository root: works from the sources
 * (libs/contracts/src) and from the build (dist/libs/contracts/src) alike.
 */
export function protoDir(): string {
  if (resolved) return resolved;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, PROTO_DIR);
    if (existsSync(candidate)) return (resolved = candidate);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${PROTO_DIR} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The absolute path of one of the API's proto files. */
export function protoPath(name: ProtoName): string {
  return join(protoDir(), PROTO_FILES[name]);
}
