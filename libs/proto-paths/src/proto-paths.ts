// Apart from the contracts, which name the proto files but may not touch the file system:
// the build compiles only TypeScript into dist/, so the files stay in libs/contracts/proto
// in every layout (sources, dist/, the image) and are found from here.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtoName } from '@keyledger/contracts';
import { PROTO_FILES } from '@keyledger/contracts';

const PROTO_DIR = join('libs', 'contracts', 'proto');
let resolved: string | undefined;

/**
 * The directory holding the proto files (the include directory for imports), found by
 * walking up from this module to the repository root: works from the sources
 * (libs/proto-paths/src) and from the build (dist/libs/proto-paths/src) alike.
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
