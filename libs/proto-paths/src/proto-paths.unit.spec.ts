import { existsSync } from 'node:fs';
import { PROTO_FILES } from '@keyledger/contracts';
import type { ProtoName } from '@keyledger/contracts';
import { protoDir, protoPath } from './proto-paths.js';

describe('proto paths', () => {
  it('finds every proto file the contracts name', () => {
    expect(protoDir()).toMatch(/libs\/contracts\/proto$/);
    for (const name of Object.keys(PROTO_FILES) as ProtoName[]) expect([name, existsSync(protoPath(name))]).toEqual([name, true]);
  });
});
