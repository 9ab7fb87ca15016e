import type { AuditCheckpoint, AuditConsistencyProof, AuditConsistencyRequest, AuditInclusionProof, AuditInclusionRequest } from '@keyledger/contracts';
import type { PostgresTransparencyLog, StoredCheckpoint } from './postgres-transparency-log.js';

const b64 = (hash: Buffer): string => hash.toString('base64');

/**
 * What the auditor does with its transparency log: grows the tree, signs a checkpoint when it
 * grew and hands each new one to `publish`, and answers checkpoint, inclusion and consistency
 * requests in the contract's shapes (NotInLogError and ProofRangeError reach the caller as
 * NOT_IN_LOG and INVALID_ARGUMENT through the one error mapper).
 */
export class AuditLog {
  constructor(
    private readonly log: PostgresTransparencyLog,
    private readonly publish: (note: string) => void | Promise<void>,
  ) {}

  /** Adds the store's new events to the tree; returns how many. */
  grow(): Promise<number> {
    return this.log.extend();
  }

  /** Brings the tree up to the store and signs a checkpoint if it grew (publishing it); returns the latest. */
  async sign(): Promise<StoredCheckpoint> {
    await this.log.extend();
    const { checkpoint, signed } = await this.log.signCheckpoint();
    if (signed) await this.publish(checkpoint.note);
    return checkpoint;
  }

  /** The latest checkpoint; with `refresh` (or before the first), one of the tree as the store is now. */
  async checkpoint(refresh = false): Promise<AuditCheckpoint> {
    const latest = refresh ? undefined : await this.log.latestCheckpoint();
    return this.present(latest ?? (await this.sign()));
  }

  async inclusion(request: AuditInclusionRequest): Promise<AuditInclusionProof> {
    const of = request.eventId !== undefined ? { eventId: request.eventId } : { position: request.position! };
    if (request.treeSize === undefined) {
      // An event newer than the latest checkpoint is proved in a new one, not refused.
      const [leaf, latest] = await Promise.all([this.log.leaf(of), this.log.latestCheckpoint()]);
      if (!leaf || !latest || latest.treeSize <= leaf.leafIndex) await this.sign();
    }
    const answer = await this.log.inclusion(of, request.treeSize);
    return {
      eventId: answer.leaf.eventId,
      position: answer.leaf.position,
      leafIndex: answer.leaf.leafIndex,
      treeSize: answer.checkpoint.treeSize,
      leafHash: b64(answer.leaf.leafHash),
      proof: answer.proof.map(b64),
      checkpoint: answer.checkpoint.note,
    };
  }

  async consistency(request: AuditConsistencyRequest): Promise<AuditConsistencyProof> {
    const answer = await this.log.consistency(request.oldSize, request.newSize);
    return { oldSize: answer.oldSize, newSize: answer.newSize, proof: answer.proof.map(b64), oldCheckpoint: answer.oldCheckpoint?.note, newCheckpoint: answer.newCheckpoint?.note };
  }

  private present(checkpoint: StoredCheckpoint): AuditCheckpoint {
    return { origin: this.log.origin, treeSize: checkpoint.treeSize, rootHash: b64(checkpoint.rootHash), signedAt: checkpoint.signedAt.toISOString(), note: checkpoint.note };
  }
}
