import type { VerifyConditions } from '@keyledger/key-domain';
import type { VerifyResult } from '@keyledger/contracts';
import type { KeyIndex, LiveKeyProjection } from '@keyledger/key-projection';
import { verifyKey } from '@keyledger/key-projection';
import type { KeyHasher } from '@keyledger/key-secrets';

const UNAVAILABLE: VerifyResult = Object.freeze({ valid: false, code: 'UNAVAILABLE' });

/**
 * The verifier's one operation, shared by NATS, gRPC and HTTP. Reads memory only; when the
 * projection has lost the bus for too long it fails closed and says UNAVAILABLE.
 */
export class KeyVerification {
  constructor(
    private readonly index: KeyIndex,
    private readonly hasher: KeyHasher,
    private readonly projection: LiveKeyProjection,
    private readonly clock: () => number = Date.now,
  ) {}

  verify(key: unknown, conditions: VerifyConditions): VerifyResult {
    const now = this.clock();
    if (this.projection.isFailingClosed(now)) return UNAVAILABLE;
    return verifyKey(this.index, this.hasher, key, conditions, now);
  }
}
