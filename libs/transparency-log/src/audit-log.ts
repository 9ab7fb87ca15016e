import type {
  AuditCheckpoint,
  AuditConsistencyProof,
  AuditConsistencyRequest,
  AuditInclusionProof,
  AuditInclusionRequest,
  GlobalPosition,
} from '@keyledger/contracts';
import type { PostgresTransparencyLog, StoredCheckpoint } from './postgres-transparency-log.js';
import type { WitnessCosigning } from './witness-cosigning.js';

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
    /** Witnesses' cosignatures, added to every checkpoint served; none without witnesses. */
    private readonly witnesses?: WitnessCosigning,
  ) {}

  /**
   * Asks the witnesses that have not cosigned the latest checkpoint to cosign it, and publishes it
   * again with the new cosignatures when any came; returns what each witness answered.
   */
  async gatherCosignatures(): Promise<Awaited<ReturnType<WitnessCosigning['cosignLatest']>>> {
    if (!this.witnesses) return [];
    const outcomes = await this.witnesses.cosignLatest();
    const latest = outcomes.some((outcome) => outcome.outcome === 'cosigned') ? await this.log.latestCheckpoint() : undefined;
    if (latest) await this.publish(await this.cosigned(latest));
    return outcomes;
  }

  /** Adds the store's new events to the tree; returns how many, and the store position the tree covers. */
  grow(): Promise<{ added: number; end: GlobalPosition }> {
    return this.log.extendToEnd();
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
      checkpoint: await this.cosigned(answer.checkpoint),
    };
  }

  async consistency(request: AuditConsistencyRequest): Promise<AuditConsistencyProof> {
    const answer = await this.log.consistency(request.oldSize, request.newSize);
    return {
      oldSize: answer.oldSize,
      newSize: answer.newSize,
      proof: answer.proof.map(b64),
      oldCheckpoint: answer.oldCheckpoint && (await this.cosigned(answer.oldCheckpoint)),
      newCheckpoint: answer.newCheckpoint && (await this.cosigned(answer.newCheckpoint)),
    };
  }

  private async present(checkpoint: StoredCheckpoint): Promise<AuditCheckpoint> {
    return {
      origin: this.log.origin,
      treeSize: checkpoint.treeSize,
      rootHash: b64(checkpoint.rootHash),
      signedAt: checkpoint.signedAt.toISOString(),
      note: await this.cosigned(checkpoint),
    };
  }

  private cosigned(checkpoint: StoredCheckpoint): Promise<string> {
    return this.witnesses ? this.witnesses.withCosignatures(checkpoint) : Promise.resolve(checkpoint.note);
  }
}
